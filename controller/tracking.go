package controller

import (
	"context"
	"slices"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"
)

// Finalizer tracking (rule S1, §5.14). Every pod is born with the
// batch.kubernetes.io/job-tracking finalizer, so it cannot vanish before it
// is counted. Counting one finished pod takes three steps, in this order:
//
//	8a write its UID into status.uncountedTerminatedPods   (the intent)
//	8b remove its finalizer                                 (it may now go)
//	8c move the UID from the uncounted list to a counter    (it is counted)
//
// A crash between any two steps is safe: after 8a the UID is listed, so a
// restarted controller finishes 8b and 8c and never counts it as new; after
// 8b the pod has no finalizer and a listed UID, so 8c alone remains. Counters
// only grow, and each pod moves through the list once.

// trackAndFinish is step 8. needsWrite says whether steps 1–7 changed the
// status already.
func (c *Controller) trackAndFinish(ctx context.Context, st *syncState, needsWrite bool) error {
	job := st.job
	uncounted := job.Status.UncountedTerminatedPods
	listedSucceeded := sets.New(uncounted.Succeeded...)
	listedFailed := sets.New(uncounted.Failed...)
	failing := st.finishing != nil && !st.finishing.success

	// Pods whose finalizer is still ours to remove. A removal in flight
	// counts as done: that pod's UID is already listed or counted.
	withFinalizer := sets.New[types.UID]()
	for _, p := range st.pods {
		if hasTrackingFinalizer(p) && !st.removalsInFlight.Has(p.UID) {
			withFinalizer.Insert(p.UID)
		}
	}

	// 8a List the pods that finished, or that are failing with the Job.
	var release []*v1.Pod
	reachedLimit := false
	for _, p := range st.pods {
		// Per-index backoff keeps a failed pod until its replacement exists (perindex.go).
		if !withFinalizer.Has(p.UID) || keepsFinalizer(ctx, st, p) {
			continue
		}
		switch {
		case p.Status.Phase == v1.PodSucceeded && !listedFailed.Has(p.UID):
			// Indexed Jobs record successes by index instead (indexed.go).
			if !listedSucceeded.Has(p.UID) && listsUID(job, p, true) {
				listedSucceeded.Insert(p.UID)
				needsWrite = true
			}
		case isPodFailed(p, job) || failing:
			// When the Job fails, every pod not yet finished fails with it.
			// A failure the pod failure policy ignores only loses its
			// finalizer: it is never listed, so never counted.
			if !listedFailed.Has(p.UID) && listsUID(job, p, false) && failureCounted(job, p) {
				listedFailed.Insert(p.UID)
				needsWrite = true
			}
		case job.DeletionTimestamp != nil:
			// Once its Job is being deleted nobody will count this pod, and
			// a finalizer left on it would hold up its deletion (F14). It
			// goes uncounted, like a surplus pod.
		default:
			continue // still running: it keeps its finalizer
		}
		release = append(release, p)
		if len(release) >= MaxUncountedPods {
			reachedLimit = true // the rest waits for the next sync
			break
		}
	}
	uncounted.Succeeded = sortedUIDs(listedSucceeded)
	uncounted.Failed = sortedUIDs(listedFailed)
	if recordIndexes(st) {
		needsWrite = true
	}

	if st.finishing != nil && !st.finishing.recorded {
		job.Status.Conditions = append(job.Status.Conditions, newCondition(
			st.finishing.interimType(), v1.ConditionTrue, st.finishing.reason, st.finishing.message, c.clock.Now()))
		needsWrite = true
	}
	if needsWrite {
		var err error
		if job, err = c.writeStatus(ctx, job); err != nil {
			return err
		}
		st.job = job
		needsWrite = false
	}
	// Only now that the listed UIDs are stored is the record of their
	// failures safe to keep: a failed write means the next sync sees the
	// same pods as new again.
	c.backoff.set(job.UID, st.backoff)

	// 8b Remove the finalizers.
	removeErr := c.removeFinalizers(ctx, job.UID, release, withFinalizer)

	// 8c Count every listed UID whose pod no longer holds a finalizer.
	if moveCounted(&job.Status, withFinalizer) {
		needsWrite = true
	}
	if removeErr != nil {
		if needsWrite {
			if _, err := c.writeStatus(ctx, job); err != nil {
				return err
			}
		}
		return removeErr
	}

	finished := !reachedLimit && c.markFinished(job, st)
	if finished {
		needsWrite = true
	}
	if !needsWrite {
		return nil
	}
	job, err := c.writeStatus(ctx, job)
	if err != nil {
		return err
	}
	if finished {
		c.recordFinished(ctx, job, st)
	}
	return nil
}

// removeFinalizers patches the tracking finalizer off pods in parallel. Each
// pod that loses it is taken out of withFinalizer, so 8c counts it.
func (c *Controller) removeFinalizers(ctx context.Context, jobUID types.UID, pods []*v1.Pod, withFinalizer sets.Set[types.UID]) error {
	if len(pods) == 0 {
		return nil
	}
	uids := make([]types.UID, len(pods))
	for i, p := range pods {
		uids[i] = p.UID
	}
	c.finalizerRemovals.expect(jobUID, uids...)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for _, p := range pods {
		wg.Go(func() {
			err := c.podControl.PatchPod(ctx, p.Namespace, p.Name, removeFinalizerPatch(p))
			mu.Lock()
			defer mu.Unlock()
			if err != nil && !apierrors.IsNotFound(err) {
				// The cache will never show this removal.
				c.finalizerRemovals.observed(jobUID, p.UID)
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			withFinalizer.Delete(p.UID)
		})
	}
	wg.Wait()
	return firstErr
}

// moveCounted is step 8c: UIDs in the uncounted lists whose pods no longer
// carry the finalizer (or no longer exist) move to the counters.
func moveCounted(status *batchv1.JobStatus, withFinalizer sets.Set[types.UID]) bool {
	u := status.UncountedTerminatedPods
	var keepSucceeded, keepFailed []types.UID
	for _, uid := range u.Succeeded {
		if withFinalizer.Has(uid) {
			keepSucceeded = append(keepSucceeded, uid)
		} else {
			status.Succeeded++
		}
	}
	for _, uid := range u.Failed {
		if withFinalizer.Has(uid) {
			keepFailed = append(keepFailed, uid)
		} else {
			status.Failed++
		}
	}
	changed := len(keepSucceeded) != len(u.Succeeded) || len(keepFailed) != len(u.Failed)
	u.Succeeded, u.Failed = keepSucceeded, keepFailed
	return changed
}

// markFinished adds the terminal condition once the outcome is decided and no
// pod is left uncounted or still terminating (rule S5).
func (c *Controller) markFinished(job *batchv1.Job, st *syncState) bool {
	if st.finishing == nil {
		return false
	}
	u := job.Status.UncountedTerminatedPods
	if len(u.Succeeded)+len(u.Failed) > 0 || st.terminating > 0 {
		return false
	}
	now := c.clock.Now()
	setCondition(&job.Status, st.finishing.terminalType(), v1.ConditionTrue, st.finishing.reason, st.finishing.message, now)
	if st.finishing.success {
		job.Status.CompletionTime = &findCondition(&job.Status, batchv1.JobComplete).LastTransitionTime
	}
	return true
}

func (c *Controller) recordFinished(ctx context.Context, job *batchv1.Job, st *syncState) {
	c.finishedJobs.insert(job.UID)
	c.backoff.forget(job.UID)
	if st.finishing.success {
		if job.Spec.Completions != nil && job.Status.Succeeded > *job.Spec.Completions {
			c.recorder.Event(job, v1.EventTypeWarning, EventTooManySucceededPods, MessageTooManySucceeded)
		}
		c.recorder.Event(job, v1.EventTypeNormal, EventCompleted, MessageCompleted)
	} else {
		c.recorder.Event(job, v1.EventTypeWarning, st.finishing.reason, st.finishing.message)
	}
	klog.FromContext(ctx).V(2).Info("Job finished", "succeeded", job.Status.Succeeded, "failed", job.Status.Failed,
		"condition", st.finishing.terminalType(), "reason", st.finishing.reason)
}

// writeStatus PUTs the status subresource. A conflict comes back as an
// error, so the key is retried against a fresher copy.
func (c *Controller) writeStatus(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error) {
	return c.client.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{FieldManager: FieldManager})
}

func sortedUIDs(s sets.Set[types.UID]) []types.UID {
	if s.Len() == 0 {
		return nil
	}
	out := s.UnsortedList()
	slices.Sort(out)
	return out
}
