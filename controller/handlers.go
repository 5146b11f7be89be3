package controller

import (
	"context"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/kjob-dev/kjob/informers"
)

// Event handlers run on the informers' goroutines. They only update
// expectations and enqueue keys; all real work happens in syncJob, one key
// at a time. (Step 0 of the diagram in docs/architecture.md.)

func (c *Controller) registerHandlers(ctx context.Context, jobs, pods cache.SharedIndexInformer) error {
	logger := klog.FromContext(ctx)
	if _, err := jobs.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.addJob(logger, obj) },
		UpdateFunc: func(old, cur interface{}) { c.updateJob(logger, old, cur) },
		DeleteFunc: func(obj interface{}) { c.deleteJob(logger, obj) },
	}); err != nil {
		return err
	}
	_, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.addPod(logger, obj) },
		UpdateFunc: func(old, cur interface{}) { c.updatePod(logger, old, cur) },
		DeleteFunc: func(obj interface{}) { c.deletePod(logger, obj, true) },
	})
	return err
}

func keyOf(obj interface {
	GetNamespace() string
	GetName() string
}) string {
	return obj.GetNamespace() + "/" + obj.GetName()
}

// enqueueNow is for changes the user made: a new Job, a spec edit.
func (c *Controller) enqueueNow(job *batchv1.Job) { c.queue.Add(keyOf(job)) }

// enqueueBatched is for the stream of pod and status events: waiting
// SyncBatchPeriod lets a burst of them collapse into one sync, because the
// queue keeps only the earliest pending time for a key.
func (c *Controller) enqueueBatched(job *batchv1.Job) {
	c.queue.AddAfter(keyOf(job), SyncBatchPeriod)
}

// jobForPod returns the cached Job that controls pod, or nil. The UID check
// matters: a Job re-created under the same name is a different Job.
func (c *Controller) jobForPod(pod *v1.Pod) *batchv1.Job {
	ref := informers.JobControllerOf(pod)
	if ref == nil {
		return nil
	}
	job, err := c.jobLister.Jobs(pod.Namespace).Get(ref.Name)
	if err != nil || job.UID != ref.UID {
		return nil
	}
	return job
}

// enqueueAdopters wakes the Jobs whose selector matches an orphan pod, so one
// of them can adopt it.
func (c *Controller) enqueueAdopters(pod *v1.Pod) {
	jobs, err := c.jobLister.Jobs(pod.Namespace).List(labelsEverything())
	if err != nil {
		return
	}
	for _, job := range jobs {
		if c.manages(job) && selectorMatches(job, pod) {
			c.enqueueBatched(job)
		}
	}
}

func (c *Controller) addPod(logger klog.Logger, obj interface{}) {
	pod := obj.(*v1.Pod)
	if pod.DeletionTimestamp != nil {
		// Seen for the first time already on its way out (e.g. after a
		// restart): for expectations that is a deletion, not a creation.
		c.deletePod(logger, pod, false)
		return
	}
	if ref := informers.JobControllerOf(pod); ref != nil {
		job := c.jobForPod(pod)
		if job == nil {
			c.enqueueOrphan(pod)
			return
		}
		if !c.manages(job) {
			return // another controller's pod
		}
		c.expectations.creationObserved(job.UID)
		c.enqueueBatched(job)
		return
	}
	c.enqueueOrphan(pod)
	c.enqueueAdopters(pod)
}

func (c *Controller) updatePod(logger klog.Logger, oldObj, curObj interface{}) {
	old, cur := oldObj.(*v1.Pod), curObj.(*v1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return // a resync replays the cache; nothing changed
	}
	if !hasTrackingFinalizer(cur) && hasTrackingFinalizer(old) {
		if ref := informers.JobControllerOf(cur); ref != nil {
			c.finalizerRemovals.observed(ref.UID, cur.UID)
		}
	}
	if cur.DeletionTimestamp != nil {
		// A graceful deletion shows first as an update. Treat it as the
		// deletion so a replacement need not wait for the kubelet.
		c.deletePod(logger, cur, false)
		if oldRef, curRef := informers.JobControllerOf(old), informers.JobControllerOf(cur); oldRef != nil && (curRef == nil || oldRef.UID != curRef.UID) {
			if job := c.jobForPod(old); job != nil && c.manages(job) {
				c.enqueueBatched(job)
			}
		}
		return
	}
	if oldRef := informers.JobControllerOf(old); oldRef != nil {
		if curRef := informers.JobControllerOf(cur); curRef == nil || curRef.UID != oldRef.UID {
			// Released or re-owned: the previous Job must recount.
			if job := c.jobForPod(old); job != nil && c.manages(job) {
				c.enqueueBatched(job)
			}
			c.pruneDeleted(oldRef.UID)
		}
	}
	if informers.JobControllerOf(cur) != nil {
		if job := c.jobForPod(cur); job != nil {
			if c.manages(job) {
				c.enqueueBatched(job)
			}
			return
		}
		c.enqueueOrphan(cur)
		return
	}
	c.enqueueOrphan(cur)
	if !labelsEqual(old.Labels, cur.Labels) || informers.JobControllerOf(old) != nil {
		c.enqueueAdopters(cur)
	}
}

// deletePod handles both a pod that is gone (final) and one that just got a
// deletionTimestamp.
func (c *Controller) deletePod(logger klog.Logger, obj interface{}, final bool) {
	pod, ok := informers.PodFromEvent(obj)
	if !ok {
		logger.V(2).Info("Ignoring delete event of an unknown object", "object", obj)
		return
	}
	ref := informers.JobControllerOf(pod)
	if ref == nil {
		c.enqueueOrphan(pod)
		return
	}
	if final {
		c.pruneDeleted(ref.UID)
	}
	job := c.jobForPod(pod)
	if job != nil && !c.manages(job) {
		return // another controller's pod
	}
	if job == nil || isFinished(job) {
		c.enqueueOrphan(pod)
		return
	}
	c.expectations.deletionObserved(job.UID)
	if final || !hasTrackingFinalizer(pod) {
		// Gone, or gone from our books: no finalizer removal can still be
		// pending for it.
		c.finalizerRemovals.observed(job.UID, pod.UID)
	}
	c.enqueueBatched(job)
}

// enqueueOrphan sends a pod that still carries our finalizer to the orphan
// queue, which removes the finalizer if no live Job will.
func (c *Controller) enqueueOrphan(pod *v1.Pod) {
	if hasTrackingFinalizer(pod) {
		c.orphanQueue.Add(keyOf(pod))
	}
}

func (c *Controller) addJob(logger klog.Logger, obj interface{}) {
	job := obj.(*batchv1.Job)
	if !c.manages(job) {
		logger.V(4).Info("Skipping Job managed by another controller", "job", klog.KObj(job), "managedBy", ptrString(job.Spec.ManagedBy))
		return
	}
	c.enqueueNow(job)
}

func (c *Controller) updateJob(logger klog.Logger, oldObj, curObj interface{}) {
	old, cur := oldObj.(*batchv1.Job), curObj.(*batchv1.Job)
	if old.UID != cur.UID {
		// Deleted and re-created between two watch events: two different Jobs.
		c.deleteJob(logger, old)
		c.addJob(logger, cur)
		return
	}
	if !c.manages(cur) {
		return
	}
	if isFinished(cur) {
		c.finishedJobs.delete(cur.UID)
		c.enqueueOrphansOf(cur)
		return
	}
	if cur.Generation != old.Generation {
		c.enqueueNow(cur)
		return
	}
	c.enqueueBatched(cur)
}

func (c *Controller) deleteJob(logger klog.Logger, obj interface{}) {
	job, ok := obj.(*batchv1.Job)
	if !ok {
		tomb, isTomb := obj.(cache.DeletedFinalStateUnknown)
		if !isTomb {
			return
		}
		if job, ok = tomb.Obj.(*batchv1.Job); !ok {
			return
		}
	}
	logger.V(4).Info("Job deleted", "job", klog.KObj(job))
	c.forgetJob(job.UID)
	c.rememberDeleted(job)
	// The key is synced even for another controller's Job: a Job of ours
	// may have been created under the same name.
	c.queue.Add(keyOf(job))
	if c.manages(job) {
		c.enqueueOrphansOf(job)
	}
}

// enqueueOrphansOf queues every pod of job still carrying our finalizer, the
// backup path that keeps finished or deleted Jobs from leaving pods stuck.
func (c *Controller) enqueueOrphansOf(job *batchv1.Job) {
	pods, err := informers.PodsControlledBy(c.podIndexer, job.UID)
	if err != nil {
		return
	}
	for _, pod := range pods {
		c.enqueueOrphan(pod)
	}
}

// forgetJob drops everything held in memory for a Job UID.
func (c *Controller) forgetJob(uid types.UID) {
	c.expectations.forget(uid)
	c.finalizerRemovals.forget(uid)
	c.backoff.forget(uid)
	c.finishedJobs.delete(uid)
}

// uidSet is a tiny thread-safe set of UIDs.
type uidSet struct {
	mu  sync.Mutex
	set sets.Set[types.UID]
}

func newUIDSet() *uidSet { return &uidSet{set: sets.New[types.UID]()} }

func (s *uidSet) insert(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.Insert(uid)
}

func (s *uidSet) delete(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.Delete(uid)
}

func (s *uidSet) has(uid types.UID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set.Has(uid)
}

func ptrString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
