package controller

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// manageJob is step 7: it moves the number of active pods towards wantActive,
// in one direction per sync, and returns the new active count.
func (c *Controller) manageJob(ctx context.Context, job *batchv1.Job, st *syncState) (int32, error) {
	active := int32(len(st.active))
	if isSuspended(job) {
		return c.suspendPods(ctx, job, st) // suspend.go
	}

	want := wantActive(job, st.succeeded, active)
	// Indexed Jobs delete pods with a bad or duplicate index first (indexed.go).
	bad := badIndexPods(ctx, st)
	if surplus := active - want; surplus > 0 || len(bad) > 0 {
		// Parallelism went down, or successes made pods unnecessary. The
		// surplus is not a failure either (rule S7).
		victims := removalOrder(st.active, int(max(surplus, 0)), bad...)
		return c.scaleDown(ctx, job, st, victims)
	}

	shortfall := want - active
	if replacementPolicy(job) == batchv1.Failed {
		// Under the Failed policy a pod being deleted still holds its place
		// until the kubelet reports it failed.
		shortfall -= st.terminating
	}
	if shortfall <= 0 {
		return active, nil
	}
	pods, wait := c.podsToCreate(ctx, st, int(min(shortfall, MaxPodCreateDeletePerSync)))
	if wait > 0 {
		// Failing pods are replaced after a growing delay (rule S4).
		klog.FromContext(ctx).V(4).Info("Delaying pod creation after failures", "delay", wait)
		c.queue.AddAfter(keyOf(job), max(wait, SyncBatchPeriod))
		return active, nil
	}
	created, err := c.createPods(ctx, job, pods)
	return active + int32(created), err
}

// podsToCreate builds up to n pods to create now, or says how long creation
// must still wait for the replacement delay. Indexed Jobs pick the indexes
// (indexed.go).
func (c *Controller) podsToCreate(ctx context.Context, st *syncState, n int) ([]*v1.Pod, time.Duration) {
	if isIndexed(st.job) {
		return c.indexedPodsToCreate(ctx, st, n)
	}
	if wait := st.backoff.remaining(c.clock); wait > 0 {
		return nil, wait
	}
	pods := make([]*v1.Pod, n)
	for i := range pods {
		pods[i] = newPodForJob(st.job)
	}
	return pods, 0
}

// scaleDown deletes victims without counting them and returns the new active
// count. The deleted pods now show as terminating and no longer as ready.
func (c *Controller) scaleDown(ctx context.Context, job *batchv1.Job, st *syncState, victims []*v1.Pod) (int32, error) {
	deleted, err := c.deletePods(ctx, job, victims, true)
	st.terminating += int32(len(deleted))
	st.ready -= countPods(deleted, isReady)
	return int32(len(st.active) - len(deleted)), err
}

// wantActive is how many pods should run now (§5.1): the parallelism,
// limited by the completions still missing; in work-queue mode, parallelism
// until the first success and then only the pods already running.
func wantActive(job *batchv1.Job, succeeded, active int32) int32 {
	parallelism := ptr.Deref(job.Spec.Parallelism, 1)
	if job.Spec.Completions == nil {
		if succeeded > 0 {
			return active
		}
		return parallelism
	}
	return max(min(parallelism, *job.Spec.Completions-succeeded), 0)
}

// removalOrder returns the pods to delete (§5.21): all of first, then the
// rest in scale-down order until there are n, never more than
// MaxPodCreateDeletePerSync. The caller's slices are not reordered.
func removalOrder(pods []*v1.Pod, n int, first ...*v1.Pod) []*v1.Pod {
	out := slices.Clone(first)
	if len(out) < n {
		chosen := sets.New[types.UID]()
		for _, p := range first {
			chosen.Insert(p.UID)
		}
		rest := slices.DeleteFunc(slices.Clone(pods), func(p *v1.Pod) bool { return chosen.Has(p.UID) })
		sortForRemoval(rest)
		out = append(out, rest[:min(n-len(out), len(rest))]...)
	}
	return out[:min(len(out), MaxPodCreateDeletePerSync)]
}

// createPods creates pods in slow-start batches of 1, 2, 4 …: when every
// create fails (a quota, an admission webhook) the controller learns it from
// one request instead of from hundreds. It returns how many were created.
func (c *Controller) createPods(ctx context.Context, job *batchv1.Job, pods []*v1.Pod) (int, error) {
	c.expectations.expect(job.UID, len(pods), 0)
	created := 0
	for batch, remaining := SlowStartInitialBatchSize, pods; len(remaining) > 0; batch *= 2 {
		size := min(batch, len(remaining))
		ok, err := c.createBatch(ctx, job, remaining[:size])
		remaining = remaining[size:]
		created += ok
		if err != nil {
			// The pods never tried will never be observed.
			for range remaining {
				c.expectations.creationObserved(job.UID)
			}
			return created, err
		}
	}
	return created, nil
}

func (c *Controller) createBatch(ctx context.Context, job *batchv1.Job, pods []*v1.Pod) (int, error) {
	var wg sync.WaitGroup
	var created atomic.Int32
	errs := make([]error, len(pods))
	for i, pod := range pods {
		wg.Go(func() {
			err := c.podControl.CreatePod(ctx, job, pod)
			if err == nil {
				created.Add(1)
				return
			}
			c.expectations.creationObserved(job.UID)
			if apierrors.HasStatusCause(err, v1.NamespaceTerminatingCause) {
				return // the namespace is going away; nothing to retry
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return int(created.Load()), errors.Join(errs...)
}

// deletePods deletes pods in parallel and returns the ones it deleted. With
// dropFinalizer the tracking finalizer is removed first, so the pod is never
// counted as failed or succeeded: that is how surplus and suspended pods
// leave the books.
func (c *Controller) deletePods(ctx context.Context, job *batchv1.Job, pods []*v1.Pod, dropFinalizer bool) ([]*v1.Pod, error) {
	if len(pods) == 0 {
		return nil, nil
	}
	c.expectations.expect(job.UID, 0, len(pods))
	var wg sync.WaitGroup
	deleted := make([]bool, len(pods))
	errs := make([]error, len(pods))
	for i, pod := range pods {
		wg.Go(func() {
			if dropFinalizer {
				if patch := removeFinalizerPatch(pod); patch != nil {
					if err := c.podControl.PatchPod(ctx, pod.Namespace, pod.Name, patch); err != nil {
						c.expectations.deletionObserved(job.UID)
						if !apierrors.IsNotFound(err) {
							errs[i] = err
						}
						return
					}
				}
			}
			if err := c.podControl.DeletePod(ctx, job, pod); err != nil {
				c.expectations.deletionObserved(job.UID)
				if !apierrors.IsNotFound(err) {
					errs[i] = err
				}
				return
			}
			deleted[i] = true
		})
	}
	wg.Wait()
	var out []*v1.Pod
	for i, ok := range deleted {
		if ok {
			out = append(out, pods[i])
		}
	}
	return out, errors.Join(errs...)
}
