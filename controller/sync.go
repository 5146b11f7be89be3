package controller

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// syncState is what one sync knows about one Job: the counts of step 4 and
// the decisions of steps 6 and 7. It lives for one sync only.
type syncState struct {
	job  *batchv1.Job // a private copy; the cached object is never modified
	pods []*v1.Pod    // every pod the Job controls, as the cache shows them

	active      []*v1.Pod // running or about to run, not being deleted
	ready       int32
	terminating int32

	// newSucceeded / newFailed: finished pods not yet on the Job's books
	// (they still carry the finalizer and are in no uncounted list).
	newSucceeded, newFailed []*v1.Pod
	// succeeded and failed are the totals once those pods are counted.
	succeeded, failed int32

	// finalizerRemovals in flight: these pods are already on the books.
	removalsInFlight sets.Set[types.UID]
	uncounted        *batchv1.UncountedTerminatedPods
	backoff          backoffRecord
	finishing        *finishing
	// indexes: what Indexed Jobs know per completion index (indexed.go).
	indexes *indexState
}

// syncJob brings one Job one step closer to what its spec asks for. It is
// safe to call at any time, any number of times: everything it needs is read
// again from the caches and the Job's status, never remembered from last time
// (apart from expectations and the backoff record, which only slow it down).
func (c *Controller) syncJob(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil || ns == "" || name == "" {
		return nil // a malformed key can never succeed; drop it
	}
	// 1 Read the Job from the lister. A Job that is gone needs nothing: the
	// delete handler already dropped what memory held for it, by UID.
	shared, err := c.jobLister.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	// 2 Skip Jobs that belong to another controller: two controllers acting on
	// one Job is the worst failure this code can cause.
	if !c.manages(shared) {
		return nil
	}
	if isFinished(shared) {
		c.forgetJob(shared.UID)
		return nil
	}
	if c.finishedJobs.has(shared.UID) {
		return nil // we finished it; the cache has not caught up yet
	}
	logger := klog.FromContext(ctx).WithValues("job", klog.KObj(shared))
	ctx = klog.NewContext(ctx, logger)
	if !c.supportedMode(shared) {
		return nil
	}
	job := shared.DeepCopy()
	if job.Status.UncountedTerminatedPods == nil {
		job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}

	// 3 Read the expectations before listing pods: a pod created in between
	// then shows up in the list instead of being missed.
	satisfied := c.expectations.satisfied(job.UID)
	pods, err := c.podsForJob(ctx, job)
	if err != nil {
		return err
	}

	// 4 Count.
	st := c.count(job, pods)
	countIndexes(ctx, st)

	// 5 The Job starts the first time it is seen unsuspended; the backoff
	// record takes in the pods that finished since the last sync.
	if job.Status.StartTime == nil && !isSuspended(job) {
		job.Status.StartTime = ptr.To(metav1.NewTime(c.clock.Now()))
	}
	st.backoff = nextBackoffRecord(c.backoff.get(job.UID), st.newSucceeded, st.newFailed)

	// 6 Decide whether the Job is finishing; the first reason wins. An
	// outcome already written as an interim condition is carried through
	// (e.g. after a restart), then a FailJob rule, the backoff limit, and
	// the deadline, which also arms the timer for the time left.
	st.finishing = recordedFinishing(&job.Status)
	if st.finishing == nil {
		st.finishing = failJobDecision(job, pods) // failurepolicy.go
	}
	if st.finishing == nil && exceedsBackoffLimit(job, st) {
		st.finishing = &finishing{reason: ReasonBackoffLimitExceeded, message: MessageBackoffLimit}
	}
	if st.finishing == nil {
		st.finishing = c.checkDeadline(ctx, job) // deadline.go
	}
	// 6i Indexed Jobs: failed indexes, then the success policy.
	decideIndexes(ctx, st)

	active := int32(len(st.active))
	var manageErr error
	suspendChanged := false
	if st.finishing != nil {
		// The outcome is decided: stop every pod still running. They keep
		// their finalizers so each is counted by how it ends.
		deleted, err := c.deletePods(ctx, job, st.active, false)
		if int32(len(deleted)) != active || !satisfied {
			// Some pod may still run, or be missing from the cache: do not
			// write the outcome yet, the next sync tries again.
			st.finishing = nil
		}
		active -= int32(len(deleted))
		st.terminating += int32(len(deleted))
		st.ready -= countPods(deleted, isReady)
		manageErr = err
	} else {
		// 7 Create or delete pods, but only once the cache shows our
		// earlier writes, and never for a Job that is being deleted.
		manageRan := false
		if satisfied && job.DeletionTimestamp == nil {
			active, manageErr = c.manageJob(ctx, job, st)
			manageRan = true
		}
		if reachedCompletions(job, st.succeeded, active) {
			st.finishing = &finishing{success: true, reason: ReasonCompletionsReached, message: MessageCompletionsReached}
		} else if manageRan {
			suspendChanged = c.updateSuspended(ctx, job)
		}
	}

	// 8 Record the status: active, ready and terminating now; finished pods
	// through uncountedTerminatedPods; the outcome last.
	needsWrite := suspendChanged || active != job.Status.Active ||
		!ptr.Equal(ptr.To(st.ready), job.Status.Ready) ||
		!ptr.Equal(ptr.To(st.terminating), job.Status.Terminating)
	job.Status.Active = active
	job.Status.Ready = ptr.To(st.ready)
	job.Status.Terminating = ptr.To(st.terminating)
	if err := c.trackAndFinish(ctx, st, needsWrite); err != nil {
		return fmt.Errorf("tracking status: %w", err)
	}
	return manageErr
}

// count builds step 4's numbers from the claimed pods.
func (c *Controller) count(job *batchv1.Job, pods []*v1.Pod) *syncState {
	st := &syncState{
		job:              job,
		pods:             pods,
		uncounted:        job.Status.UncountedTerminatedPods,
		removalsInFlight: c.finalizerRemovals.pending(job.UID),
	}
	st.active = filterPods(pods, isActive)
	st.ready = countPods(st.active, isReady)
	st.terminating = countPods(pods, isTerminating)

	uncountedSucceeded := sets.New(st.uncounted.Succeeded...)
	uncountedFailed := sets.New(st.uncounted.Failed...)
	for _, p := range pods {
		if !hasTrackingFinalizer(p) || st.removalsInFlight.Has(p.UID) ||
			uncountedSucceeded.Has(p.UID) || uncountedFailed.Has(p.UID) || !countable(job, p) {
			continue
		}
		switch {
		case p.Status.Phase == v1.PodSucceeded:
			st.newSucceeded = append(st.newSucceeded, p)
		case isPodFailed(p, job):
			st.newFailed = append(st.newFailed, p)
		}
	}
	st.succeeded = job.Status.Succeeded + int32(len(st.newSucceeded)+len(st.uncounted.Succeeded))
	// Failures the pod failure policy ignores stay off the books (they
	// still slow down replacements, through newFailed and the backoff record).
	counted := countPods(st.newFailed, func(p *v1.Pod) bool { return failureCounted(job, p) })
	st.failed = job.Status.Failed + counted + int32(len(st.uncounted.Failed))
	return st
}

// supportedMode stops the sync, with a Warning, for completion modes this
// controller does not know.
func (c *Controller) supportedMode(job *batchv1.Job) bool {
	mode := job.Spec.CompletionMode
	if mode == nil || *mode == batchv1.NonIndexedCompletion || *mode == batchv1.IndexedCompletion {
		return true
	}
	c.recorder.Event(job, v1.EventTypeWarning, EventUnknownCompletionMode, MessageUnknownMode)
	return false
}

// exceedsBackoffLimit is rule S3. Failed pods count against the limit with
// ">"; under restartPolicy OnFailure so do in-place container restarts of
// pods that still run, with "≥" (and any restart when the limit is 0).
func exceedsBackoffLimit(job *batchv1.Job, st *syncState) bool {
	limit := ptr.Deref(job.Spec.BackoffLimit, 6)
	if st.failed > limit {
		return true
	}
	if job.Spec.Template.Spec.RestartPolicy != v1.RestartPolicyOnFailure {
		return false
	}
	var restarts int32
	for _, p := range st.pods {
		if p.Status.Phase != v1.PodRunning && p.Status.Phase != v1.PodPending {
			continue
		}
		for _, s := range p.Status.InitContainerStatuses {
			restarts += s.RestartCount
		}
		for _, s := range p.Status.ContainerStatuses {
			restarts += s.RestartCount
		}
	}
	if limit == 0 {
		return restarts > 0
	}
	return restarts >= limit
}

// reachedCompletions: with completions set, that many successes; in
// work-queue mode (completions unset), any success. Either way no pod may
// still be active (rule S5: never Complete while active > 0).
func reachedCompletions(job *batchv1.Job, succeeded, active int32) bool {
	if active > 0 {
		return false
	}
	if job.Spec.Completions == nil {
		return succeeded > 0
	}
	return succeeded >= *job.Spec.Completions
}
