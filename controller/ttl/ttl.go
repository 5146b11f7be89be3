// Package ttl is the TTL-after-finished controller for Jobs: it deletes a
// finished Job, with its pods, once spec.ttlSecondsAfterFinished seconds
// have passed since the Job finished (job-semantics.md §5.8, rule S13).
//
// kube-controller-manager runs its own (ttl-after-finished-controller).
// This one exists for the simulator, which has no kube-controller-manager,
// and for clusters that run without it. Both may run side by side: each
// deletes with a precondition, so the second delete of one Job is a no-op.
//
// It is a small controller of the usual shape: an informer on Jobs whose
// handlers enqueue finished Jobs that have a TTL, a rate-limited queue, and
// workers that either requeue a Job for the moment its TTL expires or
// delete it. The time comes from an injected clock, so a simulated hour of
// waiting costs nothing.
package ttl

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	clientworkqueue "k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/kjob-dev/kjob/workqueue"
)

// DefaultWorkers is kube-controller-manager's
// --concurrent-ttl-after-finished-syncs default.
const DefaultWorkers = 5

// Config is everything the controller needs from outside. Only Client and
// JobInformer are required.
type Config struct {
	Client      kubernetes.Interface
	JobInformer batchinformers.JobInformer
	// Clock tells when a TTL expires; nil means the real clock.
	Clock clock.WithTicker
	// NewQueue builds the work queue; nil uses the project's own queue
	// with client-go's default controller rate limits.
	NewQueue func(name string, clk clock.WithTicker) clientworkqueue.TypedRateLimitingInterface[string]
	// Propagation is how the Job's pods go with it. Empty means
	// Foreground, as kube-controller-manager's controller deletes: the
	// Job stays visible, being deleted, until its pods are gone.
	Propagation metav1.DeletionPropagation
}

// Controller deletes finished Jobs whose TTL has expired.
type Controller struct {
	client      kubernetes.Interface
	jobLister   batchlisters.JobLister
	jobsSynced  cache.InformerSynced
	clock       clock.WithTicker
	propagation metav1.DeletionPropagation

	// queue holds "namespace/name" keys of finished Jobs with a TTL.
	queue clientworkqueue.TypedRateLimitingInterface[string]
	// busy counts keys being processed, for Idle.
	busy atomic.Int64
}

// New wires the controller to its informer. Call it before the informer
// starts, so that the initial list reaches the handlers.
func New(ctx context.Context, cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.JobInformer == nil {
		return nil, errors.New("ttl.New: Client and JobInformer are required")
	}
	c := &Controller{
		client:      cfg.Client,
		jobLister:   cfg.JobInformer.Lister(),
		jobsSynced:  cfg.JobInformer.Informer().HasSynced,
		clock:       cfg.Clock,
		propagation: cfg.Propagation,
	}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	if c.propagation == "" {
		c.propagation = metav1.DeletePropagationForeground
	}
	switch c.propagation {
	case metav1.DeletePropagationForeground, metav1.DeletePropagationBackground, metav1.DeletePropagationOrphan:
	default:
		return nil, fmt.Errorf("ttl.New: unknown propagation policy %q", c.propagation)
	}
	newQueue := cfg.NewQueue
	if newQueue == nil {
		newQueue = func(name string, clk clock.WithTicker) clientworkqueue.TypedRateLimitingInterface[string] {
			return workqueue.NewRateLimiting[string](nil, workqueue.Options{Name: name, Clock: clk})
		}
	}
	c.queue = newQueue("ttl_jobs_to_delete", c.clock)

	logger := klog.FromContext(ctx)
	_, err := cfg.JobInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.enqueue(logger, obj) },
		UpdateFunc: func(_, obj any) { c.enqueue(logger, obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("watching Jobs: %w", err)
	}
	return c, nil
}

// enqueue takes a Job added or updated in the cache. Only finished Jobs
// with a TTL are of interest; an edit of the TTL of a finished Job arrives
// here too and is judged afresh.
func (c *Controller) enqueue(logger klog.Logger, obj any) {
	job, ok := obj.(*batchv1.Job)
	if !ok || !needsCleanup(job) {
		return
	}
	logger.V(4).Info("Finished Job with a TTL", "job", klog.KObj(job))
	c.queue.Add(job.Namespace + "/" + job.Name)
}

// Run waits for the cache, then runs workers until ctx ends. It returns
// only once every worker has finished what it was doing, so a caller that
// stops it knows no delete is still on its way.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrash()
	logger := klog.FromContext(ctx)
	logger.Info("Starting TTL after finished controller", "workers", workers)
	defer logger.Info("Shutting down TTL after finished controller")
	var wg sync.WaitGroup
	defer func() {
		c.queue.ShutDown() // wakes workers blocked in Get
		wg.Wait()
	}()
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.jobsSynced) {
		return
	}
	for range workers {
		wg.Go(func() { wait.UntilWithContext(ctx, c.drain, time.Second) })
	}
	<-ctx.Done()
}

// Idle reports whether no key is queued or being processed. Keys waiting
// for a TTL to expire belong to the clock, not to Idle.
func (c *Controller) Idle() bool {
	return c.queue.Len() == 0 && c.busy.Load() == 0
}

func (c *Controller) drain(ctx context.Context) {
	for c.processNext(ctx) {
	}
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	c.busy.Add(1)
	defer c.busy.Add(-1)
	defer c.queue.Done(key)
	if err := c.sync(ctx, key); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Deleting an expired Job failed, will retry", "key", key)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// sync deletes the Job named by key if its TTL has expired, and otherwise
// requeues it for the moment it will.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // a malformed key can never succeed
	}
	job, err := c.jobLister.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	logger := klog.FromContext(ctx).WithValues("job", klog.KObj(job))
	if expired, err := c.expired(logger, job); !expired || err != nil {
		return err
	}

	// The cache may lag: the TTL may have been raised, or the Job deleted
	// and created again under the same name. Only what the API holds now
	// may be deleted, and the delete must fail if that changes before it
	// lands, hence the preconditions on uid and resourceVersion.
	fresh, err := c.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if expired, err := c.expired(logger, fresh); !expired || err != nil {
		return err
	}
	err = c.client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: &c.propagation,
		Preconditions:     &metav1.Preconditions{UID: &fresh.UID, ResourceVersion: &fresh.ResourceVersion},
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		// A conflict means the Job changed after the read: the retry reads it again.
		return err
	}
	logger.V(2).Info("Deleted a Job whose TTL after finishing expired", "ttlSecondsAfterFinished", *fresh.Spec.TTLSecondsAfterFinished)
	return nil
}

// expired reports whether job should be deleted now. A Job whose TTL lies
// ahead is requeued for then.
func (c *Controller) expired(logger klog.Logger, job *batchv1.Job) (bool, error) {
	if !needsCleanup(job) {
		return false, nil
	}
	finished, ok := finishTime(job)
	if !ok {
		// Someone wrote a terminal condition without a time. Retrying
		// cannot fix that; the next update of the Job brings it back here.
		logger.Error(nil, "Finished Job has no finish time, leaving it alone")
		return false, nil
	}
	expireAt := finished.Add(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second)
	if left := expireAt.Sub(c.clock.Now()); left > 0 {
		logger.V(4).Info("TTL after finished not expired yet", "left", left)
		c.queue.AddAfter(job.Namespace+"/"+job.Name, left)
		return false, nil
	}
	return true, nil
}

// needsCleanup: a TTL is set, the Job has finished, and nobody is deleting
// it yet. An unset TTL means the Job is kept forever.
func needsCleanup(job *batchv1.Job) bool {
	if job.Spec.TTLSecondsAfterFinished == nil || job.DeletionTimestamp != nil {
		return false
	}
	_, finished := terminalCondition(job)
	return finished
}

// finishTime is when the Job got its terminal condition (Complete or
// Failed): the TTL counts from there.
func finishTime(job *batchv1.Job) (time.Time, bool) {
	c, ok := terminalCondition(job)
	if !ok || c.LastTransitionTime.IsZero() {
		return time.Time{}, false
	}
	return c.LastTransitionTime.Time, true
}

func terminalCondition(job *batchv1.Job) (*batchv1.JobCondition, bool) {
	for i := range job.Status.Conditions {
		c := &job.Status.Conditions[i]
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == v1.ConditionTrue {
			return c, true
		}
	}
	return nil, false
}
