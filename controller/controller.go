package controller

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	clientworkqueue "k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/kjob-dev/kjob/informers"
	"github.com/kjob-dev/kjob/workqueue"
)

// QueueFactory builds a rate-limited queue of keys. It is a seam so tests and
// benchmarks can run the controller on either the project's queue or
// client-go's; see the workqueue package.
type QueueFactory func(name string, clk clock.WithTicker) clientworkqueue.TypedRateLimitingInterface[string]

// Config is everything the controller needs from outside. Only Client and the
// two informers are required.
type Config struct {
	Client      kubernetes.Interface
	JobInformer batchinformers.JobInformer
	PodInformer coreinformers.PodInformer

	// Clock drives every timer and timestamp: the simulator passes a virtual one.
	Clock clock.WithTicker
	// Recorder receives Events; nil records them into the API through Client.
	Recorder record.EventRecorder
	// PodControl makes the pod writes; nil uses RealPodControl.
	PodControl PodControl
	// NewQueue builds the work queues; nil uses the project's own queue.
	NewQueue QueueFactory
	// Manages decides which Jobs are this controller's; nil means
	// ManagesBuiltIn, the rule of kube-controller-manager's controller.
	// ManagedByPredicate builds the rule of a controller with its own name.
	// A Job it rejects is never synced, and its pods are never written.
	Manages func(*batchv1.Job) bool
}

// Controller reconciles Jobs. Create it with New and start it with Run.
type Controller struct {
	client     kubernetes.Interface
	podControl PodControl
	recorder   record.EventRecorder
	clock      clock.WithTicker
	manages    func(*batchv1.Job) bool
	// cleansUnknownOrphans: this controller stands in for the built-in one
	// (it manages Jobs without spec.managedBy), so it also removes the
	// finalizers of pods whose Job it never saw; see ownsOrphanFinalizer.
	cleansUnknownOrphans bool

	jobLister  batchlisters.JobLister
	podIndexer cache.Indexer
	jobsSynced cache.InformerSynced
	podsSynced cache.InformerSynced

	// queue holds "namespace/name" keys of Jobs to sync. The queue promises
	// that one key is never synced by two workers at once, which is what lets
	// syncJob read-modify-write a Job without locks.
	queue clientworkqueue.TypedRateLimitingInterface[string]
	// orphanQueue holds "namespace/name" keys of pods that carry the tracking
	// finalizer but no longer have a live Job to count them.
	orphanQueue clientworkqueue.TypedRateLimitingInterface[string]

	expectations      *expectations
	finalizerRemovals *finalizerRemovals
	backoff           *backoffStore
	// finishedJobs: UIDs of Jobs this controller has just marked finished
	// whose new status the cache does not show yet.
	finishedJobs *uidSet
	// deletedJobs: whether recently deleted Jobs were ours, for the orphan
	// clean-up of their pods.
	deletedJobs *deletedJobs

	// busy counts keys being processed right now; with the queue lengths it
	// tells the simulator when the controller has nothing left to do.
	busy atomic.Int64
}

// ManagesBuiltIn is kube-controller-manager's rule: a Job with no managedBy,
// or the reserved value, belongs to the built-in controller.
func ManagesBuiltIn(job *batchv1.Job) bool {
	return job.Spec.ManagedBy == nil || *job.Spec.ManagedBy == BuiltInControllerName
}

// New wires a controller to its informers. It registers event handlers, so
// call it before the informers start.
func New(ctx context.Context, cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.JobInformer == nil || cfg.PodInformer == nil {
		return nil, fmt.Errorf("controller.New: Client, JobInformer and PodInformer are required")
	}
	c := &Controller{
		client:     cfg.Client,
		podControl: cfg.PodControl,
		recorder:   cfg.Recorder,
		clock:      cfg.Clock,
		manages:    cfg.Manages,
		jobLister:  cfg.JobInformer.Lister(),
		podIndexer: cfg.PodInformer.Informer().GetIndexer(),
		jobsSynced: cfg.JobInformer.Informer().HasSynced,
		podsSynced: cfg.PodInformer.Informer().HasSynced,

		finalizerRemovals: newFinalizerRemovals(),
		backoff:           newBackoffStore(),
		finishedJobs:      newUIDSet(),
		deletedJobs:       newDeletedJobs(),
	}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	if c.manages == nil {
		c.manages = ManagesBuiltIn
	}
	c.cleansUnknownOrphans = c.manages(&batchv1.Job{})
	if c.recorder == nil {
		c.recorder, _ = NewEventRecorder(ctx, cfg.Client, "job-controller")
	}
	if c.podControl == nil {
		c.podControl = RealPodControl{Client: cfg.Client, Recorder: c.recorder}
	}
	newQueue := cfg.NewQueue
	if newQueue == nil {
		newQueue = NewQueueFactory(workqueue.ImplementationKjob)
	}
	c.queue = newQueue("job", c.clock)
	c.orphanQueue = newQueue("job_orphan_pod", c.clock)
	c.expectations = newExpectations(c.clock)

	if err := informers.AddPodIndexers(cfg.PodInformer.Informer()); err != nil {
		return nil, fmt.Errorf("adding pod index: %w", err)
	}
	if err := c.registerHandlers(ctx, cfg.JobInformer.Informer(), cfg.PodInformer.Informer()); err != nil {
		return nil, err
	}
	return c, nil
}

// NewQueueFactory returns a QueueFactory for one workqueue implementation,
// with the Job controller's per-key retry delay of 1 s doubling to 1 min.
func NewQueueFactory(impl workqueue.Implementation) QueueFactory {
	return NewQueueFactoryWithMetrics(impl, nil)
}

// NewQueueFactoryWithMetrics is NewQueueFactory whose queues report to
// provider, labelled with their names: "job" and "job_orphan_pod", as in
// kube-controller-manager. A nil provider records nothing.
func NewQueueFactoryWithMetrics(impl workqueue.Implementation, provider workqueue.MetricsProvider) QueueFactory {
	return func(name string, clk clock.WithTicker) clientworkqueue.TypedRateLimitingInterface[string] {
		return workqueue.NewRateLimiting[string](NewRateLimiter(),
			workqueue.Options{Name: name, Clock: clk, Implementation: impl, MetricsProvider: provider})
	}
}

// NewRateLimiter returns the Job controller's per-key retry delays after a
// failed sync: APIBackoffBase doubling up to APIBackoffMax.
func NewRateLimiter() clientworkqueue.TypedRateLimiter[string] {
	return workqueue.NewItemExponentialFailureRateLimiter[string](APIBackoffBase, APIBackoffMax)
}

// Run waits for the caches, then runs workers until ctx ends. Each worker
// serves both queues, so a Job sync and an orphan clean-up never wait for
// each other's worker pool.
//
// Run returns only once every worker has stopped: after ctx ends no new key
// is taken, the syncs in progress finish, and keys still queued are dropped
// (a successor rebuilds them from its caches). So a restart never has two
// controllers writing the same Job, and a caller holding a lease can
// release it as soon as Run returns.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrash()
	logger := klog.FromContext(ctx)
	logger.Info("Starting job controller", "workers", workers)
	defer logger.Info("Shutting down job controller")

	var wg sync.WaitGroup
	defer func() {
		// Shutting the queues down wakes workers blocked in Get.
		c.queue.ShutDown()
		c.orphanQueue.ShutDown()
		wg.Wait()
	}()
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.jobsSynced, c.podsSynced) {
		return
	}
	for range workers {
		wg.Go(func() {
			wait.UntilWithContext(ctx, func(ctx context.Context) { c.drain(ctx, c.queue, c.syncJob) }, time.Second)
		})
		wg.Go(func() {
			wait.UntilWithContext(ctx, func(ctx context.Context) { c.drain(ctx, c.orphanQueue, c.syncOrphanPod) }, time.Second)
		})
	}
	<-ctx.Done()
}

// Idle reports whether no key is queued or being synced. Keys waiting on a
// timer (AddAfter) are not counted: they belong to the clock.
func (c *Controller) Idle() bool {
	return c.queue.Len() == 0 && c.orphanQueue.Len() == 0 && c.busy.Load() == 0
}

func (c *Controller) drain(ctx context.Context, q clientworkqueue.TypedRateLimitingInterface[string], sync func(context.Context, string) error) {
	for ctx.Err() == nil && c.processNext(ctx, q, sync) {
	}
}

// processNext is the heart of every controller: take a key, sync it, and tell
// the queue how it went. Forget resets the key's backoff after a success;
// AddRateLimited retries it later after an error.
func (c *Controller) processNext(ctx context.Context, q clientworkqueue.TypedRateLimitingInterface[string], sync func(context.Context, string) error) bool {
	key, shutdown := q.Get()
	if shutdown {
		return false
	}
	c.busy.Add(1)
	defer c.busy.Add(-1)
	defer q.Done(key)
	if ctx.Err() != nil {
		return false // stopping: leave the key to whoever runs next
	}

	if err := sync(ctx, key); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Syncing failed, will retry", "key", key)
		q.AddRateLimited(key)
		return true
	}
	q.Forget(key)
	return true
}
