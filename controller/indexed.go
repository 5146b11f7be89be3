package controller

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// Indexed completion mode (§5.3, rule S9). Each of the indexes
// 0…completions−1 needs one pod that succeeds. Every pod is created for one
// index and says so in its metadata, its hostname and its environment, so
// the work it does can depend on the index (a shard, a file, a rank).
//
// What changes against NonIndexed, step by step:
//
//	4  succeeded is the number of distinct succeeded indexes, not of pods;
//	   pods without a usable index are never counted (countable)
//	6  per-index backoff and the success policy may decide the outcome
//	   (decideIndexes; perindex.go, successpolicy.go)
//	7  pods without a usable index, and all but one pod per index, are
//	   deleted first (badIndexPods); new pods go to the lowest indexes that
//	   are neither running, succeeded nor failed (firstPendingIndexes)
//	8  successes are recorded in status.completedIndexes instead of
//	   uncountedTerminatedPods (recordIndexes)

// CompletionIndexEnvName is the environment variable through which a
// container reads its pod's completion index.
const CompletionIndexEnvName = "JOB_COMPLETION_INDEX"

// MaxGeneratedNameLength is the longest generateName prefix the apiserver
// keeps; it cuts longer ones before appending five random characters.
const MaxGeneratedNameLength = 58

// indexState is what one sync knows about the indexes of an Indexed Job.
type indexState struct {
	completions int
	// succeeded: status.completedIndexes (the part still in range) plus the
	// indexes of succeeded pods whose success is not recorded yet.
	succeeded intervals
	// failed: the indexes that used up backoffLimitPerIndex or matched a
	// FailIndex rule; nil unless backoffLimitPerIndex is set (perindex.go).
	failed *intervals
	// awaitingReplacement: per index, the failed pod whose failure count the
	// index's next pod must inherit (perindex.go).
	awaitingReplacement map[int]*v1.Pod
}

func isIndexed(job *batchv1.Job) bool {
	return ptr.Deref(job.Spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.IndexedCompletion
}

// podIndex reads the pod's completion index from its annotation, which is
// where the controller put it; the label of the same name exists for
// selectors and the environment variable.
func podIndex(p *v1.Pod) (int, bool) {
	s, ok := p.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok || s == "" || len(s) > 9 {
		return 0, false
	}
	ix := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
		ix = ix*10 + int(r-'0')
	}
	return ix, true
}

// indexInRange returns the pod's index when it is one the Job has now.
// After an elastic Indexed Job shrinks, pods of the indexes it dropped fall
// out of range.
func indexInRange(job *batchv1.Job, p *v1.Pod) (int, bool) {
	ix, ok := podIndex(p)
	if !ok || ix >= int(ptr.Deref(job.Spec.Completions, 0)) {
		return 0, false
	}
	return ix, true
}

// countable says whether a finished pod's outcome is counted at all. An
// Indexed Job counts only pods of an index it has: a pod without an index
// did no identifiable part of the work, and one whose index fell out of
// range did work the Job no longer wants. Such pods only lose their
// finalizer.
func countable(job *batchv1.Job, p *v1.Pod) bool {
	if !isIndexed(job) {
		return true
	}
	_, ok := indexInRange(job, p)
	return ok
}

// countIndexes is the Indexed part of step 4: the succeeded indexes, and
// succeeded as their number (field report F12: two pods that succeed for one
// index are one completion).
func countIndexes(ctx context.Context, st *syncState) {
	job := st.job
	if !isIndexed(job) {
		return
	}
	completions := int(ptr.Deref(job.Spec.Completions, 0))
	recorded, err := parseIntervals(job.Status.CompletedIndexes, completions)
	if err != nil {
		klog.FromContext(ctx).Info("Ignoring part of status.completedIndexes", "err", err)
	}
	var fresh []int
	for _, p := range st.pods {
		if p.Status.Phase != v1.PodSucceeded || !hasTrackingFinalizer(p) {
			continue
		}
		if ix, ok := indexInRange(job, p); ok {
			fresh = append(fresh, ix)
		}
	}
	st.indexes = &indexState{completions: completions, succeeded: recorded.withIndexes(fresh...)}
	st.succeeded = int32(st.indexes.succeeded.total())
}

// decideIndexes is the Indexed part of step 6: failed indexes first, then
// the success policy, each only when nothing else decided the outcome.
func decideIndexes(ctx context.Context, st *syncState) {
	if st.indexes == nil {
		return
	}
	if hasPerIndexBackoff(st.job) {
		decidePerIndex(ctx, st)
	}
	if st.finishing == nil {
		st.finishing = successPolicyOutcome(st.job, st.indexes.succeeded)
	}
}

// badIndexPods lists the active pods an Indexed Job deletes before anything
// else (§5.21): pods without a valid index or with one out of range, and,
// where several pods run for one index, all but the one that got furthest
// (the last in the removal order). Two pods of one index do the same work
// twice and may fight over the same output.
func badIndexPods(ctx context.Context, st *syncState) []*v1.Pod {
	if st.indexes == nil {
		return nil
	}
	logger := klog.FromContext(ctx)
	var bad []*v1.Pod
	byIndex := map[int][]*v1.Pod{}
	for _, p := range st.active {
		ix, ok := indexInRange(st.job, p)
		if !ok {
			logger.V(3).Info("Deleting pod without a valid completion index", "pod", klog.KObj(p),
				"index", p.Annotations[batchv1.JobCompletionIndexAnnotation])
			bad = append(bad, p)
			continue
		}
		byIndex[ix] = append(byIndex[ix], p)
	}
	indexes := make([]int, 0, len(byIndex))
	for ix, pods := range byIndex {
		if len(pods) > 1 {
			indexes = append(indexes, ix)
		}
	}
	slices.Sort(indexes)
	for _, ix := range indexes {
		pods := byIndex[ix]
		sortForRemoval(pods)
		for _, p := range pods[:len(pods)-1] {
			logger.V(3).Info("Deleting pod with a duplicate completion index", "pod", klog.KObj(p), "index", ix)
			bad = append(bad, p)
		}
	}
	return bad
}

// firstPendingIndexes returns up to n of the lowest indexes that need a pod:
// not running, not succeeded, not failed for good. Under the Failed
// replacement policy an index whose pod is still terminating is taken too,
// because that pod may yet succeed.
func firstPendingIndexes(st *syncState, n int) []int {
	if n <= 0 {
		return nil
	}
	taken := st.indexes.succeeded
	var busy []int
	for _, p := range st.active {
		if ix, ok := indexInRange(st.job, p); ok {
			busy = append(busy, ix)
		}
	}
	if replacementPolicy(st.job) == batchv1.Failed {
		for _, p := range st.pods {
			if ix, ok := indexInRange(st.job, p); ok && isTerminating(p) {
				busy = append(busy, ix)
			}
		}
	}
	taken = taken.withIndexes(busy...)
	if st.indexes.failed != nil {
		taken = taken.union(*st.indexes.failed)
	}
	var out []int
	next := 0
	for _, iv := range append(taken, interval{st.indexes.completions, st.indexes.completions}) {
		for ; next < min(iv.first, st.indexes.completions) && len(out) < n; next++ {
			out = append(out, next)
		}
		if len(out) == n || next >= st.indexes.completions {
			break
		}
		next = max(next, iv.last+1)
	}
	return out
}

// indexedPodsToCreate builds the pods for the first pending indexes, or
// says how long creation must wait: the Job's replacement delay, or with
// backoffLimitPerIndex each index's own (perindex.go).
func (c *Controller) indexedPodsToCreate(ctx context.Context, st *syncState, n int) ([]*v1.Pod, time.Duration) {
	indexes := firstPendingIndexes(st, n)
	if len(indexes) == 0 {
		return nil, 0 // every index has a pod or an outcome
	}
	var wait time.Duration
	if hasPerIndexBackoff(st.job) {
		indexes, wait = c.indexesPastDelay(ctx, st, indexes)
	} else {
		wait = st.backoff.remaining(c.clock)
	}
	if wait > 0 {
		return nil, wait
	}
	pods := make([]*v1.Pod, 0, len(indexes))
	for _, ix := range indexes {
		pod := newIndexedPod(st.job, ix)
		if hasPerIndexBackoff(st.job) {
			setFailureCounts(pod, st.job, st.indexes.awaitingReplacement[ix])
		}
		pods = append(pods, pod)
	}
	return pods, 0
}

// newIndexedPod is the Job's pod for index ix: the index as an annotation
// (what the controller reads back) and a label (what selectors and the
// environment variable read), the hostname <job>-<ix>, and
// JOB_COMPLETION_INDEX in every container. The hostname is stable across
// retries of the index; with spec.subdomain naming a headless Service the
// pods reach each other as <job>-<ix>.<subdomain>, which is how
// MPI- or PyTorch-style workers find their peers.
func newIndexedPod(job *batchv1.Job, ix int) *v1.Pod {
	pod := newPodForJob(job)
	value := strconv.Itoa(ix)
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Annotations[batchv1.JobCompletionIndexAnnotation] = value
	pod.Labels[batchv1.JobCompletionIndexAnnotation] = value
	pod.GenerateName = indexedPodNamePrefix(job.Name, ix)
	pod.Spec.Hostname = fmt.Sprintf("%s-%d", job.Name, ix)
	for i := range pod.Spec.InitContainers {
		addIndexEnv(&pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		addIndexEnv(&pod.Spec.Containers[i])
	}
	return pod
}

// addIndexEnv gives a container JOB_COMPLETION_INDEX from the index label,
// unless the template already defines that variable.
func addIndexEnv(c *v1.Container) {
	for _, e := range c.Env {
		if e.Name == CompletionIndexEnvName {
			return
		}
	}
	c.Env = append(c.Env, v1.EnvVar{Name: CompletionIndexEnvName, ValueFrom: &v1.EnvVarSource{
		FieldRef: &v1.ObjectFieldSelector{FieldPath: fmt.Sprintf("metadata.labels['%s']", batchv1.JobCompletionIndexAnnotation)},
	}})
}

// indexedPodNamePrefix is "<job>-<ix>-". When that is longer than the
// apiserver keeps of a generateName, the Job's name is shortened rather
// than the index, so the index stays readable in the pod's name.
func indexedPodNamePrefix(jobName string, ix int) string {
	suffix := fmt.Sprintf("-%d-", ix)
	if len(jobName)+len(suffix) > MaxGeneratedNameLength {
		jobName = jobName[:MaxGeneratedNameLength-len(suffix)]
	}
	return jobName + suffix
}

// recordIndexes is the Indexed part of step 8: completedIndexes and
// succeeded from the succeeded indexes, and failedIndexes with
// backoffLimitPerIndex. A succeeded pod needs no entry in
// uncountedTerminatedPods: its index in completedIndexes is the record that
// survives a crash, and recording an index twice changes nothing. It
// reports whether the status changed.
func recordIndexes(st *syncState) bool {
	if st.indexes == nil {
		return false
	}
	status := &st.job.Status
	changed := false
	if s := st.indexes.succeeded.String(); s != status.CompletedIndexes {
		status.CompletedIndexes = s
		changed = true
	}
	if n := int32(st.indexes.succeeded.total()); n != status.Succeeded {
		status.Succeeded = n
		changed = true
	}
	var failed *string
	if st.indexes.failed != nil {
		failed = ptr.To(st.indexes.failed.String())
	}
	if !ptr.Equal(failed, status.FailedIndexes) {
		status.FailedIndexes = failed
		changed = true
	}
	return changed
}

// listsUID says whether a finished pod goes into uncountedTerminatedPods.
// Succeeded pods of an Indexed Job are recorded by index instead, and pods
// that are not countable are not recorded at all.
func listsUID(job *batchv1.Job, p *v1.Pod, succeeded bool) bool {
	if succeeded && isIndexed(job) {
		return false
	}
	return countable(job, p)
}
