package controller

import (
	"context"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
)

// backoffLimitPerIndex and maxFailedIndexes (§5.10). With one global
// backoffLimit, a single index that always fails (a corrupt shard) uses up
// the retries of all the others and fails the whole Job. With a limit per
// index, each index gets backoffLimitPerIndex+1 counted attempts of its own;
// an index that exhausts them is failed and listed in status.failedIndexes,
// and the other indexes carry on. maxFailedIndexes bounds how many failed
// indexes the Job tolerates before it gives up early.
//
// The count lives on the pods, not in the controller's memory: each pod
// carries the number of earlier failures of its index in the annotation
// batch.kubernetes.io/job-index-failure-count (and failures the pod failure
// policy ignored in ...-ignored-failure-count). A failed pod therefore keeps
// its tracking finalizer until its replacement exists, so that its count
// can still be read and carried over: without that, pod garbage collection
// could delete it first and the index would start again from 0.

// Condition reasons and messages of per-index backoff.
const (
	ReasonMaxFailedIndexesExceeded  = "MaxFailedIndexesExceeded"
	MessageMaxFailedIndexesExceeded = "Job has exceeded the specified maximal number of failed indexes"
	ReasonFailedIndexes             = "FailedIndexes"
	MessageFailedIndexes            = "Job has failed indexes"
)

func hasPerIndexBackoff(job *batchv1.Job) bool {
	return isIndexed(job) && job.Spec.BackoffLimitPerIndex != nil
}

// failureCounts reads the counted and the ignored failures of the pod's
// index before this pod. A missing or malformed annotation reads as 0: a
// pod someone else made starts its index afresh.
func failureCounts(p *v1.Pod) (counted, ignored int32) {
	return annotationCount(p, batchv1.JobIndexFailureCountAnnotation),
		annotationCount(p, batchv1.JobIndexIgnoredFailureCountAnnotation)
}

func annotationCount(p *v1.Pod, key string) int32 {
	n, err := strconv.ParseInt(p.Annotations[key], 10, 32)
	if err != nil || n < 0 {
		return 0
	}
	return int32(n)
}

// indexFailure classifies a failed pod for its index: whether the failure
// counts against backoffLimitPerIndex, and whether it fails the index at
// once (a FailIndex rule of the pod failure policy).
func indexFailure(job *batchv1.Job, p *v1.Pod) (counted, failsIndex bool) {
	action := failurePolicyActionForIndex(job, p)
	switch {
	case action == nil:
		return true, false
	case *action == batchv1.PodFailurePolicyActionIgnore:
		return false, false
	case *action == batchv1.PodFailurePolicyActionFailIndex:
		return true, true
	}
	return true, false // Count, and FailJob (which fails the whole Job anyway)
}

// failurePolicyActionForIndex is the seam to the pod failure policy: the
// action of the first rule of job.spec.podFailurePolicy that the failed pod
// matches (failurepolicy.go), or nil when none does.
func failurePolicyActionForIndex(job *batchv1.Job, p *v1.Pod) *batchv1.PodFailurePolicyAction {
	if m := matchFailurePolicy(job, p); m.action != "" {
		return &m.action
	}
	return nil
}

// decidePerIndex is the per-index part of step 6: which indexes failed for
// good, whether that ends the Job, and which failed pods must keep their
// finalizer until their index has a replacement.
func decidePerIndex(ctx context.Context, st *syncState) {
	failed := failedIndexes(ctx, st)
	st.indexes.failed = &failed
	if st.finishing == nil {
		maxFailed := st.job.Spec.MaxFailedIndexes
		switch n := failed.total(); {
		case maxFailed != nil && n > int(*maxFailed):
			// Too many indexes failed: running the rest would be wasted.
			st.finishing = &finishing{reason: ReasonMaxFailedIndexesExceeded, message: MessageMaxFailedIndexesExceeded}
		case n > 0 && n+st.indexes.succeeded.total() >= st.indexes.completions:
			// Every index has an outcome and some failed.
			st.finishing = &finishing{reason: ReasonFailedIndexes, message: MessageFailedIndexes}
		}
	}
	st.indexes.awaitingReplacement = awaitingReplacement(st)
}

// failedIndexes is status.failedIndexes plus the indexes of failed pods
// that were their index's last counted attempt, or matched a FailIndex rule.
// An index that also succeeded is not failed: the work got done, and the
// apiserver refuses an index that is in both lists.
func failedIndexes(ctx context.Context, st *syncState) intervals {
	job := st.job
	recorded, err := parseIntervals(ptr.Deref(job.Status.FailedIndexes, ""), st.indexes.completions)
	if err != nil {
		klog.FromContext(ctx).Info("Ignoring part of status.failedIndexes", "err", err)
	}
	limit := *job.Spec.BackoffLimitPerIndex
	var fresh []int
	for _, p := range st.pods {
		ix, ok := indexInRange(job, p)
		if !ok || !isPodFailed(p, job) || st.indexes.succeeded.has(ix) || recorded.has(ix) {
			continue
		}
		counted, failsIndex := indexFailure(job, p)
		before, _ := failureCounts(p)
		if failsIndex || (counted && before >= limit) {
			klog.FromContext(ctx).V(2).Info("Index failed", "pod", klog.KObj(p), "index", ix, "failuresBefore", before)
			fresh = append(fresh, ix)
		}
	}
	return recorded.withIndexes(fresh...)
}

// awaitingReplacement finds, per index that still needs a pod, the failed
// pod whose counts the next pod of that index inherits: the one with the
// most failures before it, the latest to finish on a tie.
func awaitingReplacement(st *syncState) map[int]*v1.Pod {
	job := st.job
	running := map[int]bool{}
	for _, p := range st.active {
		if ix, ok := indexInRange(job, p); ok {
			running[ix] = true
		}
	}
	out := map[int]*v1.Pod{}
	for _, p := range st.pods {
		if !hasTrackingFinalizer(p) || st.removalsInFlight.Has(p.UID) || !isPodFailed(p, job) {
			continue
		}
		ix, ok := indexInRange(job, p)
		if !ok || running[ix] || st.indexes.succeeded.has(ix) || st.indexes.failed.has(ix) {
			continue
		}
		if prev, seen := out[ix]; seen && !failedLater(p, prev) {
			continue
		}
		out[ix] = p
	}
	return out
}

// failedLater reports whether a is a later failure of its index than b.
func failedLater(a, b *v1.Pod) bool {
	ca, ia := failureCounts(a)
	cb, ib := failureCounts(b)
	return ca+ia >= cb+ib && !finishTime(a).Before(finishTime(b))
}

// keepsFinalizer says whether step 8 must leave a finished pod's tracking
// finalizer in place for now: a failed pod whose index has no replacement
// yet. Once the Job is finishing or being deleted no replacement will come,
// and every pod is released.
func keepsFinalizer(ctx context.Context, st *syncState, p *v1.Pod) bool {
	if st.indexes == nil || len(st.indexes.awaitingReplacement) == 0 ||
		st.finishing != nil || st.job.DeletionTimestamp != nil {
		return false
	}
	ix, ok := indexInRange(st.job, p)
	if !ok {
		return false
	}
	waiting := st.indexes.awaitingReplacement[ix]
	if waiting == nil || waiting.UID != p.UID {
		return false
	}
	klog.FromContext(ctx).V(4).Info("Keeping the finalizer of a failed pod until its index has a replacement",
		"pod", klog.KObj(p), "index", ix)
	return true
}

// indexesPastDelay keeps the indexes whose replacement delay is over. Each
// index waits by its own failures (rule S4 per index), so one index that
// keeps failing does not hold back the others. When none is ready it
// returns how long until the first one is.
func (c *Controller) indexesPastDelay(ctx context.Context, st *syncState, indexes []int) ([]int, time.Duration) {
	var ready []int
	var soonest time.Duration
	for _, ix := range indexes {
		wait := indexDelay(c.clock, st.indexes.awaitingReplacement[ix])
		if wait <= 0 {
			ready = append(ready, ix)
			continue
		}
		klog.FromContext(ctx).V(4).Info("Delaying the replacement of a failed index", "index", ix, "delay", wait)
		if soonest == 0 || wait < soonest {
			soonest = wait
		}
	}
	if len(ready) > 0 {
		return ready, 0
	}
	return nil, soonest
}

// indexDelay is how long the replacement of failed must still wait: the
// pod-failure delay for the index's failures so far, counted and ignored,
// including failed itself, measured from when failed stopped.
func indexDelay(clk clock.PassiveClock, failed *v1.Pod) time.Duration {
	if failed == nil {
		return 0
	}
	counted, ignored := failureCounts(failed)
	delay := podFailureDelay(int(counted+ignored) + 1)
	return max(delay-clk.Since(finishTime(failed)), 0)
}

// setFailureCounts writes the index's failure counts on its new pod: those
// of the pod it replaces plus that pod's own failure. Every pod of such a
// Job carries the counted number, "0" on the first attempt; the ignored
// number appears only once there is one.
func setFailureCounts(pod *v1.Pod, job *batchv1.Job, replaced *v1.Pod) {
	var counted, ignored int32
	if replaced != nil {
		counted, ignored = failureCounts(replaced)
		if c, _ := indexFailure(job, replaced); c {
			counted++
		} else {
			ignored++
		}
	}
	pod.Annotations[batchv1.JobIndexFailureCountAnnotation] = strconv.Itoa(int(counted))
	if ignored > 0 {
		pod.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation] = strconv.Itoa(int(ignored))
	}
}
