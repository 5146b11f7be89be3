package controller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

// TestSyncJobWithBackoffLimitPerIndex pins backoffLimitPerIndex and
// maxFailedIndexes (§5.10), one named case per behaviour.
func TestSyncJobWithBackoffLimitPerIndex(t *testing.T) {
	none := ptr.To("")
	cases := []syncIndexedCase{
		{name: "every first attempt carries failure count 0", parallelism: 2, completions: 3, backoffLimit: 6,
			backoffLimitPerIndex: ptr.To[int32](1),
			wantCreatedIndexes:   []int{0, 1}, wantActive: 2, wantFailedIndexes: none,
			wantFailureCounts: map[int]string{0: "0", 1: "0"}},
		{name: "failed pod keeps its finalizer until its replacement exists", parallelism: 2, completions: 2, backoffLimit: 6,
			backoffLimitPerIndex: ptr.To[int32](1),
			pods: []indexedPod{
				{index: "0", phase: v1.PodFailed, failuresBefore: "0", finishedAgo: time.Minute},
				{index: "1", phase: v1.PodRunning, failuresBefore: "0"}},
			// The replacement inherits the count; the failed pod is not
			// released (and so not yet counted) in this sync.
			wantCreatedIndexes: []int{0}, wantActive: 2, wantFailedIndexes: none,
			wantFailureCounts: map[int]string{0: "1"}},
		{name: "failed pod is released once its index runs again", parallelism: 2, completions: 2, backoffLimit: 6,
			backoffLimitPerIndex: ptr.To[int32](1),
			pods: []indexedPod{
				{index: "0", phase: v1.PodFailed, failuresBefore: "0", finishedAgo: time.Minute},
				{index: "0", phase: v1.PodRunning, failuresBefore: "1"},
				{index: "1", phase: v1.PodRunning, failuresBefore: "0"}},
			wantPatches: 1, wantActive: 2, wantFailed: 1, wantFailedIndexes: none},
		{name: "replacement waits for the index's own delay", parallelism: 2, completions: 2, backoffLimit: 6,
			backoffLimitPerIndex: ptr.To[int32](3),
			// Second failure of index 0: 20 s from its finish, 5 s have passed.
			pods: []indexedPod{
				{index: "0", phase: v1.PodFailed, failuresBefore: "1", finishedAgo: 5 * time.Second},
				{index: "1", phase: v1.PodRunning, failuresBefore: "0"}},
			wantActive: 1, wantFailedIndexes: none, wantRequeue: true},
		{name: "a failing index does not hold back the others", parallelism: 3, completions: 3, backoffLimit: 6,
			backoffLimitPerIndex: ptr.To[int32](3),
			pods: []indexedPod{
				{index: "0", phase: v1.PodFailed, failuresBefore: "1", finishedAgo: 5 * time.Second},
				{index: "1", phase: v1.PodRunning, failuresBefore: "0"}},
			wantCreatedIndexes: []int{2}, wantActive: 2, wantFailedIndexes: none,
			wantFailureCounts: map[int]string{2: "0"}},
		{name: "index fails after its last counted attempt", parallelism: 3, completions: 3, backoffLimit: 6,
			backoffLimitPerIndex: ptr.To[int32](1),
			pods: []indexedPod{
				{index: "0", phase: v1.PodFailed, failuresBefore: "1", finishedAgo: time.Minute},
				{index: "1", phase: v1.PodRunning, failuresBefore: "0"},
				{index: "2", phase: v1.PodRunning, failuresBefore: "0"}},
			// Not replaced, released and counted; the other indexes go on.
			wantPatches: 1, wantActive: 2, wantFailed: 1, wantFailedIndexes: ptr.To("0")},
		{name: "job with failed indexes fails once every index has an outcome", parallelism: 3, completions: 3, backoffLimit: 6,
			backoffLimitPerIndex: ptr.To[int32](1),
			status:               batchv1.JobStatus{FailedIndexes: ptr.To("0"), Failed: 2},
			pods: []indexedPod{
				{index: "1", phase: v1.PodSucceeded, failuresBefore: "0"},
				{index: "2", phase: v1.PodSucceeded, failuresBefore: "1"}},
			wantPatches: 2, wantSucceeded: 2, wantFailed: 2, wantCompletedIndexes: "1,2", wantFailedIndexes: ptr.To("0"),
			wantConditions: []string{"FailureTarget=True:FailedIndexes", "Failed=True:FailedIndexes"},
			wantMessage:    MessageFailedIndexes,
			wantEvents:     []string{"Warning FailedIndexes Job has failed indexes"}},
		{name: "maxFailedIndexes exceeded stops the job early", parallelism: 2, completions: 4, backoffLimit: 6,
			backoffLimitPerIndex: ptr.To[int32](0), maxFailedIndexes: ptr.To[int32](0),
			pods: []indexedPod{
				{index: "0", phase: v1.PodFailed, failuresBefore: "0", finishedAgo: time.Minute},
				{index: "1", phase: v1.PodRunning, failuresBefore: "0"}},
			wantDeleted: []string{"running-1-1"}, wantPatches: 2, wantTerminating: 1, wantFailed: 2,
			wantFailedIndexes: ptr.To("0"),
			wantConditions:    []string{"FailureTarget=True:MaxFailedIndexesExceeded"},
			wantMessage:       MessageMaxFailedIndexesExceeded},
		{name: "the global backoffLimit still applies", parallelism: 2, completions: 4, backoffLimit: 1,
			backoffLimitPerIndex: ptr.To[int32](2),
			pods: []indexedPod{
				{index: "0", phase: v1.PodFailed, failuresBefore: "0", finishedAgo: time.Minute},
				{index: "1", phase: v1.PodFailed, failuresBefore: "0", finishedAgo: time.Minute}},
			wantPatches: 2, wantFailed: 2, wantFailedIndexes: none,
			wantConditions: []string{"FailureTarget=True:BackoffLimitExceeded", "Failed=True:BackoffLimitExceeded"}},
		{name: "ignored failures are carried to the replacement", parallelism: 1, completions: 1, backoffLimit: 6,
			backoffLimitPerIndex: ptr.To[int32](3),
			// 1 counted + 2 ignored + this one: the 4th delay step, 80 s.
			pods: []indexedPod{
				{index: "0", phase: v1.PodFailed, failuresBefore: "1", ignoredBefore: "2", finishedAgo: 90 * time.Second}},
			wantCreatedIndexes: []int{0}, wantActive: 1, wantFailedIndexes: none,
			wantFailureCounts: map[int]string{0: "2/2"}},
		{name: "failed pods of a succeeded index are released", parallelism: 1, completions: 1, backoffLimit: 6,
			backoffLimitPerIndex: ptr.To[int32](1),
			pods: []indexedPod{
				{index: "0", phase: v1.PodFailed, failuresBefore: "0", finishedAgo: time.Minute},
				{index: "0", phase: v1.PodSucceeded, failuresBefore: "1"}},
			wantPatches: 2, wantSucceeded: 1, wantFailed: 1, wantCompletedIndexes: "0", wantFailedIndexes: none,
			wantConditions: []string{"SuccessCriteriaMet=True:CompletionsReached", "Complete=True:CompletionsReached"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runSyncIndexedCase(t, tc) })
	}
}

// TestPerIndexDelay: each index waits 10 s × 2^(n−1) after its n-th
// failure, counted and ignored alike, measured from when the pod stopped.
func TestPerIndexDelay(t *testing.T) {
	clk := testingclock.NewFakePassiveClock(testNow)
	cases := []struct {
		name             string
		counted, ignored string
		finishedAgo      time.Duration
		want             time.Duration
	}{
		{name: "first failure", counted: "0", want: 10 * time.Second},
		{name: "second failure", counted: "1", want: 20 * time.Second},
		{name: "ignored failures count too", counted: "1", ignored: "1", want: 40 * time.Second},
		{name: "time already passed is taken off", counted: "1", finishedAgo: 15 * time.Second, want: 5 * time.Second},
		{name: "past the delay", counted: "0", finishedAgo: time.Minute, want: 0},
		{name: "capped at the maximum", counted: "20", want: PodFailureBackoffMax},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
				batchv1.JobIndexFailureCountAnnotation: tc.counted}}}
			if tc.ignored != "" {
				pod.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation] = tc.ignored
			}
			pod.Status.ContainerStatuses = []v1.ContainerStatus{{State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{
				FinishedAt: metav1.NewTime(testNow.Add(-tc.finishedAgo))}}}}
			assert.Equal(t, tc.want, indexDelay(clk, pod))
		})
	}
	assert.Zero(t, indexDelay(clk, nil), "an index that never failed does not wait")
}

func TestFailureCountsTolerateBadAnnotations(t *testing.T) {
	for _, value := range []string{"", "x", "-1", "99999999999"} {
		pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
			batchv1.JobIndexFailureCountAnnotation: value, batchv1.JobIndexIgnoredFailureCountAnnotation: value}}}
		counted, ignored := failureCounts(pod)
		require.Zero(t, counted, "%q", value)
		require.Zero(t, ignored, "%q", value)
	}
}
