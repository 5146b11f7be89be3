package controller

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/kjob-dev/kjob/informers"
)

// syncOrphanPod removes the tracking finalizer from a pod that no live Job
// will count: its Job is gone, finished, or it never had one. Without this,
// such pods would hang in Terminating forever and block namespace deletion
// (field report F14).
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
	if ref := informers.JobControllerOf(shared); ref != nil {
		if job := c.jobForPod(shared); job != nil {
			if !c.manages(job) {
				// Another controller's Job: its finalizers are its business.
				return nil
			}
			if !isFinished(job) {
				return nil // a live Job counts it and removes the finalizer itself
			}
		}
	}
	klog.FromContext(ctx).V(2).Info("Removing tracking finalizer from orphan pod", "pod", klog.KObj(shared))
	if err := c.podControl.PatchPod(ctx, ns, name, removeFinalizerPatch(shared)); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}
