package cronjob

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
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	clientworkqueue "k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/kjob-dev/kjob/controller"
	"github.com/kjob-dev/kjob/informers"
	"github.com/kjob-dev/kjob/workqueue"
)

// Config is everything the CronJob controller needs from outside. Client
// and the two informers are required.
type Config struct {
	Client          kubernetes.Interface
	CronJobInformer batchinformers.CronJobInformer
	JobInformer     batchinformers.JobInformer

	// Clock drives every decision and every requeue: "now" in the sync,
	// and the AddAfter timers that wake a CronJob at its next start time.
	// Tests pass a fake clock and the simulator a virtual one; nil is the
	// real clock.
	Clock clock.WithTicker
	// Recorder receives Events; nil records them into the API through
	// Client, signed ControllerName.
	Recorder record.EventRecorder
	// NewQueue builds the work queue; nil uses the project's queue with
	// client-go's default controller rate limiter (NewQueueFactory).
	NewQueue controller.QueueFactory
	// Manages decides which CronJobs are this controller's; nil means
	// ManagesUnannotated. See ManagedByPredicate.
	Manages func(*batchv1.CronJob) bool
	// Location is the zone of schedules that name none (no spec.timeZone,
	// no TZ= prefix); nil means UTC. kube-controller-manager uses its
	// process's local zone; pass time.Local to do the same.
	Location *time.Location
	// ObserveCreationSkew, when set, receives the delay between a start
	// time and the creation of its Job, for each Job a sync creates (the
	// upstream metric cronjob_controller_job_creation_skew_duration_seconds).
	ObserveCreationSkew func(time.Duration)
}

// Controller runs CronJobs: it creates a Job at each start time and keeps
// the CronJob's status and Job history in order. Create it with New and
// start it with Run.
type Controller struct {
	client      kubernetes.Interface
	recorder    record.EventRecorder
	clock       clock.WithTicker
	manages     func(*batchv1.CronJob) bool
	location    *time.Location
	observeSkew func(time.Duration)

	cronJobLister  batchlisters.CronJobLister
	jobIndexer     cache.Indexer
	cronJobsSynced cache.InformerSynced
	jobsSynced     cache.InformerSynced

	// queue holds "namespace/name" keys of CronJobs. A key is synced by
	// one worker at a time, so a sync may read-modify-write its CronJob
	// without locks; AddAfter on it is the timer of the next start time.
	queue clientworkqueue.TypedRateLimitingInterface[string]

	// busy counts keys being synced right now; with the queue length it
	// tells the simulator when the controller has nothing left to do.
	busy atomic.Int64

	// deleted holds the UIDs of Jobs this controller deleted whose
	// deletion the Job cache has not shown yet. A sync in between would
	// otherwise still see them: as running Jobs missing from
	// status.active (UnexpectedJob), as listed Jobs gone from the API
	// (MissingJob), or as history to delete again.
	deleted sync.Map // types.UID → struct{}
}

// NewQueueFactory returns a QueueFactory for one workqueue implementation
// with the retry delays of NewRateLimiter.
func NewQueueFactory(impl workqueue.Implementation) controller.QueueFactory {
	return func(name string, clk clock.WithTicker) clientworkqueue.TypedRateLimitingInterface[string] {
		return workqueue.NewRateLimiting[string](NewRateLimiter(clk),
			workqueue.Options{Name: name, Clock: clk, Implementation: impl})
	}
}

// NewRateLimiter returns the retry delays of the upstream CronJob
// controller: client-go's default controller limiter (per key 5 ms doubling
// to 1000 s, and 10 per second overall with bursts of 100), on clk.
func NewRateLimiter(clk clock.PassiveClock) clientworkqueue.TypedRateLimiter[string] {
	return workqueue.DefaultControllerRateLimiterWithClock[string](clk)
}

// New wires a controller to its informers. It registers event handlers and
// a Job index, so call it before the informers start.
func New(ctx context.Context, cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.CronJobInformer == nil || cfg.JobInformer == nil {
		return nil, fmt.Errorf("cronjob.New: Client, CronJobInformer and JobInformer are required")
	}
	c := &Controller{
		client:         cfg.Client,
		recorder:       cfg.Recorder,
		clock:          cfg.Clock,
		manages:        cfg.Manages,
		location:       cfg.Location,
		observeSkew:    cfg.ObserveCreationSkew,
		cronJobLister:  cfg.CronJobInformer.Lister(),
		jobIndexer:     cfg.JobInformer.Informer().GetIndexer(),
		cronJobsSynced: cfg.CronJobInformer.Informer().HasSynced,
		jobsSynced:     cfg.JobInformer.Informer().HasSynced,
	}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	if c.manages == nil {
		c.manages = ManagesUnannotated
	}
	if c.location == nil {
		c.location = time.UTC
	}
	if c.recorder == nil {
		c.recorder, _ = controller.NewEventRecorder(ctx, cfg.Client, ControllerName)
	}
	newQueue := cfg.NewQueue
	if newQueue == nil {
		newQueue = NewQueueFactory(workqueue.ImplementationKjob)
	}
	c.queue = newQueue("cronjob", c.clock)

	if err := informers.AddJobIndexers(cfg.JobInformer.Informer()); err != nil {
		return nil, fmt.Errorf("adding job index: %w", err)
	}
	if err := c.registerHandlers(ctx, cfg.CronJobInformer.Informer(), cfg.JobInformer.Informer()); err != nil {
		return nil, err
	}
	return c, nil
}

// Run waits for the caches, then runs workers until ctx ends. It returns
// once every worker has finished the sync it was in.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrash()
	logger := klog.FromContext(ctx)
	logger.Info("Starting cronjob controller", "workers", workers)
	defer logger.Info("Shutting down cronjob controller")

	var wg sync.WaitGroup
	defer wg.Wait()
	defer c.queue.ShutDown()
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.cronJobsSynced, c.jobsSynced) {
		return
	}
	for range workers {
		wg.Go(func() {
			wait.UntilWithContext(ctx, func(ctx context.Context) {
				for c.processNext(ctx) {
				}
			}, time.Second)
		})
	}
	<-ctx.Done()
}

// Idle reports whether no key is queued or being synced. Keys waiting on a
// timer (the next start time) are not counted: they belong to the clock.
func (c *Controller) Idle() bool {
	return c.queue.Len() == 0 && c.busy.Load() == 0
}

// processNext takes one key, syncs it and tells the queue how it went: an
// error retries the key with backoff; a requeue time arms the key's timer
// for the next start time; otherwise the key rests until an event.
func (c *Controller) processNext(ctx context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	c.busy.Add(1)
	defer c.busy.Add(-1)
	defer c.queue.Done(key)

	requeue, err := c.sync(ctx, key)
	switch {
	case err != nil:
		utilruntime.HandleErrorWithContext(ctx, err, "Syncing CronJob failed, will retry", "key", key)
		c.queue.AddRateLimited(key)
	case requeue != nil:
		c.queue.Forget(key)
		c.queue.AddAfter(key, *requeue)
	default:
		c.queue.Forget(key)
	}
	return true
}
