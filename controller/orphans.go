package controller

import (
	"context"
	"fmt"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/kjob-dev/kjob/informers"
)

// syncOrphanPod removes the tracking finalizer from a pod that no live Job
// will count: its Job is gone, finished, or it never had one. Without this,
// such pods would hang in Terminating forever and block namespace deletion
// (field report F14). It never touches a pod whose Job belongs to another
// controller: see ownsOrphanFinalizer.
func (c *Controller) syncOrphanPod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	obj, exists, err := c.podIndexer.GetByKey(key)
	if err != nil || !exists {
		return err
	}
	shared, ok := informers.PodFromEvent(obj)
	if !ok || !hasTrackingFinalizer(shared) {
		return nil
	}
	ours, err := c.ownsOrphanFinalizer(ctx, shared)
	if err != nil || !ours {
		return err
	}
	klog.FromContext(ctx).V(2).Info("Removing tracking finalizer from orphan pod", "pod", klog.KObj(shared))
	if err := c.podControl.PatchPod(ctx, ns, name, removeFinalizerPatch(shared)); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// ownsOrphanFinalizer decides whether the tracking finalizer of pod is this
// controller's to remove (docs/decisions.md, D10):
//
//   - no controller at all: yes, no Job counts the pod any more;
//   - a controller that is not a batch/v1 Job: no, never;
//   - a Job in the cache: only if this controller manages it and it has
//     finished (a live Job counts the pod and removes the finalizer itself);
//   - a Job deleted while this process watched: only if it was ours;
//   - a Job this process never saw: the API is asked; if it is really gone,
//     only when this controller stands in for the built-in one, which is
//     the controller that cleans up after unknown Jobs otherwise.
func (c *Controller) ownsOrphanFinalizer(ctx context.Context, pod *v1.Pod) (bool, error) {
	owner := metav1.GetControllerOf(pod)
	if owner == nil {
		return true, nil
	}
	if informers.JobControllerOf(pod) == nil {
		return false, nil
	}
	if job := c.jobForPod(pod); job != nil {
		return c.manages(job) && isFinished(job), nil
	}
	if ours, known := c.deletedJobs.lookup(owner.UID); known {
		return ours, nil
	}
	job, err := c.client.BatchV1().Jobs(pod.Namespace).Get(ctx, owner.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return false, fmt.Errorf("looking up the Job of orphan pod %s: %w", keyOf(pod), err)
	case job.UID == owner.UID:
		// Not in the cache yet: decide as for a cached Job.
		return c.manages(job) && isFinished(job), nil
	}
	return c.cleansUnknownOrphans, nil
}

// deletedJobs remembers, for Jobs deleted while their pods are still in
// the cache, whether they were this controller's. Once a Job is gone its
// spec.managedBy can no longer be read, and its pods' finalizers must be
// left to whoever managed it.
type deletedJobs struct {
	mu   sync.Mutex
	ours map[types.UID]bool
}

func newDeletedJobs() *deletedJobs { return &deletedJobs{ours: map[types.UID]bool{}} }

func (d *deletedJobs) record(uid types.UID, ours bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ours[uid] = ours
}

func (d *deletedJobs) lookup(uid types.UID) (ours, known bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ours, known = d.ours[uid]
	return ours, known
}

func (d *deletedJobs) forget(uid types.UID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.ours, uid)
}

func (d *deletedJobs) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.ours)
}

// rememberDeleted records who managed a deleted Job, as long as the cache
// still holds pods it controlled.
func (c *Controller) rememberDeleted(job *batchv1.Job) {
	if pods, err := informers.PodsControlledBy(c.podIndexer, job.UID); err == nil && len(pods) > 0 {
		c.deletedJobs.record(job.UID, c.manages(job))
	}
}

// pruneDeleted forgets a deleted Job once no cached pod names it as its
// controller any more.
func (c *Controller) pruneDeleted(uid types.UID) {
	if _, known := c.deletedJobs.lookup(uid); !known {
		return
	}
	if pods, err := informers.PodsControlledBy(c.podIndexer, uid); err == nil && len(pods) == 0 {
		c.deletedJobs.forget(uid)
	}
}
