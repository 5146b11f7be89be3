package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"

	"github.com/kjob-dev/kjob/informers"
)

// Ownership (§5.20). A Job's pods are the ones whose controller owner
// reference carries the Job's UID. Labels alone never make a pod ours: the
// selector only decides which orphans may be adopted and which owned pods
// must be let go.

func labelsEverything() labels.Selector { return labels.Everything() }

func labelsEqual(a, b map[string]string) bool { return maps.Equal(a, b) }

// selectorMatches reports whether job's selector selects pod. An invalid or
// empty selector selects nothing: adopting every pod in the namespace would
// be far worse than adopting none.
func selectorMatches(job *batchv1.Job, pod *v1.Pod) bool {
	if job.Spec.Selector == nil {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil || sel.Empty() {
		return false
	}
	return sel.Matches(labels.Set(pod.Labels))
}

// podsForJob returns the pods the Job controls after claiming: orphans that
// match the selector are adopted, owned pods that stopped matching are
// released. Pods with another controller are never looked at.
func (c *Controller) podsForJob(ctx context.Context, job *batchv1.Job) ([]*v1.Pod, error) {
	owned, err := informers.PodsControlledBy(c.podIndexer, job.UID)
	if err != nil {
		return nil, err
	}
	orphans, err := informers.OrphanPods(c.podIndexer, job.Namespace)
	if err != nil {
		return nil, err
	}
	var claimed []*v1.Pod
	var errs []error
	for _, pod := range owned {
		if selectorMatches(job, pod) || pod.DeletionTimestamp != nil {
			claimed = append(claimed, pod)
			continue
		}
		if err := c.release(ctx, job, pod); err != nil {
			errs = append(errs, err)
		}
	}
	canAdopt := true
	for _, pod := range orphans {
		if pod.DeletionTimestamp != nil || !selectorMatches(job, pod) || job.DeletionTimestamp != nil {
			continue
		}
		if canAdopt {
			// The cache may be behind: make sure the Job is not being deleted
			// and is still the same object before taking pods for it.
			fresh, err := c.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
			if err != nil || fresh.UID != job.UID || fresh.DeletionTimestamp != nil {
				canAdopt = false
				if err != nil && !apierrors.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("re-reading Job before adoption: %w", err))
				}
				continue
			}
		}
		adopted, err := c.adopt(ctx, job, pod)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if adopted != nil {
			claimed = append(claimed, adopted)
		}
	}
	if len(errs) > 0 {
		return claimed, fmt.Errorf("claiming pods of Job %s: %v", keyOf(job), errs)
	}
	return claimed, nil
}

// adopt makes job the controller of an orphan and adds the tracking
// finalizer in the same patch, so the pod is counted like one we created.
func (c *Controller) adopt(ctx context.Context, job *batchv1.Job, pod *v1.Pod) (*v1.Pod, error) {
	ref := metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []metav1.OwnerReference{*ref},
		"finalizers":      []string{JobTrackingFinalizer},
		"uid":             pod.UID,
	}})
	if err := c.podControl.PatchPod(ctx, pod.Namespace, pod.Name, patch); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("adopting pod %s: %w", keyOf(pod), err)
	}
	klog.FromContext(ctx).V(2).Info("Adopted pod", "job", klog.KObj(job), "pod", klog.KObj(pod))
	adopted := pod.DeepCopy()
	adopted.OwnerReferences = append(adopted.OwnerReferences, *ref)
	if !hasTrackingFinalizer(adopted) {
		adopted.Finalizers = append(adopted.Finalizers, JobTrackingFinalizer)
	}
	return adopted, nil
}

// release removes job's owner reference from a pod that no longer matches
// its selector. The tracking finalizer is left for the orphan queue, which
// removes it once the pod is seen without a controller.
func (c *Controller) release(ctx context.Context, job *batchv1.Job, pod *v1.Pod) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []map[string]any{{"$patch": "delete", "uid": job.UID}},
		"uid":             pod.UID,
	}})
	err := c.podControl.PatchPod(ctx, pod.Namespace, pod.Name, patch)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("releasing pod %s: %w", keyOf(pod), err)
	}
	klog.FromContext(ctx).V(2).Info("Released pod", "job", klog.KObj(job), "pod", klog.KObj(pod))
	return nil
}
