package controller

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// newIndexedJob is newJob in Indexed completion mode.
func newIndexedJob(parallelism, completions, backoffLimit int32) *batchv1.Job {
	job := newJob(parallelism, ptr.To(completions), backoffLimit)
	job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	return job
}

// indexedPod describes one pod of an Indexed Job in a test case. index is
// the annotation's text ("" for none, anything for an invalid one).
type indexedPod struct {
	index       string
	phase       v1.PodPhase
	terminating bool
	ready       bool
	// failuresBefore and ignoredBefore are the job-index-failure-count and
	// job-index-ignored-failure-count annotations, if set.
	failuresBefore, ignoredBefore string
	// finishedAgo is how long before testNow a finished pod stopped; zero
	// leaves the pod without container statuses.
	finishedAgo time.Duration
}

// indexedPods turns the descriptions into pods named "<phase>-<index>-<n>".
func indexedPods(job *batchv1.Job, specs []indexedPod) []*v1.Pod {
	var pods []*v1.Pod
	for n, s := range specs {
		name := fmt.Sprintf("%s-%s-%d", strings.ToLower(string(s.phase)), strings.ReplaceAll(s.index, "_", ""), n)
		p := podOf(job, name, s.phase)
		p.Annotations = map[string]string{}
		if s.index != "" {
			p.Annotations[batchv1.JobCompletionIndexAnnotation] = s.index
		}
		if s.failuresBefore != "" {
			p.Annotations[batchv1.JobIndexFailureCountAnnotation] = s.failuresBefore
		}
		if s.ignoredBefore != "" {
			p.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation] = s.ignoredBefore
		}
		if s.terminating {
			markDeleted(p)
		}
		if s.ready {
			markReady(p)
		}
		if s.finishedAgo != 0 {
			p.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "main", State: v1.ContainerState{
				Terminated: &v1.ContainerStateTerminated{FinishedAt: metav1.NewTime(testNow.Add(-s.finishedAgo))}}}}
		}
		pods = append(pods, p)
	}
	return pods
}

// createdPods lists the pods the sync created, by completion index.
func (f *fixture) createdPods() map[int]*v1.Pod {
	out := map[int]*v1.Pod{}
	for _, a := range f.client.Actions() {
		if c, ok := a.(k8stesting.CreateAction); ok && a.GetResource().Resource == "pods" {
			pod := c.GetObject().(*v1.Pod)
			ix, err := strconv.Atoi(pod.Annotations[batchv1.JobCompletionIndexAnnotation])
			require.NoError(f.t, err)
			out[ix] = pod
		}
	}
	return out
}

// createdFailureCounts renders the failure-count annotations of the pods
// the sync created, by index: "counted/ignored", or "counted" when the
// ignored count is absent.
func (f *fixture) createdFailureCounts() map[int]string {
	out := map[int]string{}
	for ix, p := range f.createdPods() {
		out[ix] = p.Annotations[batchv1.JobIndexFailureCountAnnotation]
		if ignored, ok := p.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation]; ok {
			out[ix] += "/" + ignored
		}
	}
	return out
}

// createdIndexes lists the completion indexes of the pods the sync created.
func (f *fixture) createdIndexes() []int {
	var out []int
	for ix := range f.createdPods() {
		out = append(out, ix)
	}
	slices.Sort(out)
	return out
}

// deletedPods lists the names of the pods the sync deleted.
func (f *fixture) deletedPods() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok && a.GetResource().Resource == "pods" {
			out = append(out, d.GetName())
		}
	}
	slices.Sort(out)
	return out
}

// syncIndexedCase is one row of the Indexed sync tables: the Job, the pods
// before the sync, and what the sync must write.
type syncIndexedCase struct {
	name string
	// Job spec and stored status
	parallelism, completions, backoffLimit int32
	replacement                            batchv1.PodReplacementPolicy
	backoffLimitPerIndex, maxFailedIndexes *int32
	successPolicy                          *batchv1.SuccessPolicy
	status                                 batchv1.JobStatus
	pods                                   []indexedPod
	// expected API writes
	wantCreatedIndexes []int
	wantDeleted        []string
	wantPatches        int
	// expected status
	wantActive, wantReady, wantTerminating int32
	wantSucceeded, wantFailed              int32
	wantCompletedIndexes                   string
	wantFailedIndexes                      *string
	wantConditions                         []string
	// wantMessage, when set, is the message of the last condition.
	wantMessage string
	wantRequeue bool
	// wantFailureCounts, when set, are the failure-count annotations
	// ("counted/ignored", ignored left out when absent) of the created
	// pods, by index.
	wantFailureCounts map[int]string
	// wantEvents, when set, must be among the Events the sync recorded.
	wantEvents []string
}

func runSyncIndexedCase(t *testing.T, tc syncIndexedCase) *fixture {
	job := newIndexedJob(tc.parallelism, tc.completions, tc.backoffLimit)
	if tc.replacement != "" {
		job.Spec.PodReplacementPolicy = ptr.To(tc.replacement)
	}
	job.Spec.BackoffLimitPerIndex = tc.backoffLimitPerIndex
	job.Spec.MaxFailedIndexes = tc.maxFailedIndexes
	job.Spec.SuccessPolicy = tc.successPolicy
	job.Status = tc.status
	objects := []runtime.Object{job}
	for _, p := range indexedPods(job, tc.pods) {
		objects = append(objects, p)
	}
	f := newFixture(t, objects...)
	f.client.ClearActions()

	require.NoError(t, f.sync(job))

	assert.Equal(t, tc.wantCreatedIndexes, f.createdIndexes(), "created indexes")
	assert.Equal(t, tc.wantDeleted, f.deletedPods(), "deleted pods")
	assert.Equal(t, tc.wantPatches, f.counts().patches, "pod patches (finalizer removals)")
	st := f.lastStatus()
	require.NotNil(t, st, "the sync writes the status")
	assert.Equal(t, tc.wantActive, st.Active, "active")
	assert.Equal(t, ptr.To(tc.wantReady), st.Ready, "ready")
	assert.Equal(t, ptr.To(tc.wantTerminating), st.Terminating, "terminating")
	assert.Equal(t, tc.wantSucceeded, st.Succeeded, "succeeded")
	assert.Equal(t, tc.wantFailed, st.Failed, "failed")
	assert.Equal(t, tc.wantCompletedIndexes, st.CompletedIndexes, "completedIndexes")
	assert.Equal(t, tc.wantFailedIndexes, st.FailedIndexes, "failedIndexes")
	assert.Empty(t, st.UncountedTerminatedPods.Succeeded, "Indexed successes are recorded by index, never by UID")
	assert.Equal(t, tc.wantConditions, conditionSummary(st), "conditions")
	if tc.wantMessage != "" {
		require.NotEmpty(t, st.Conditions)
		assert.Equal(t, tc.wantMessage, st.Conditions[len(st.Conditions)-1].Message, "condition message")
	}
	if tc.wantFailureCounts != nil {
		assert.Equal(t, tc.wantFailureCounts, f.createdFailureCounts(), "failure counts of the created pods")
	}
	if tc.wantEvents != nil {
		assert.Subset(t, f.events(), tc.wantEvents, "events")
	}
	timers := f.queue.delaysOver("ns/job", SyncBatchPeriod)
	assert.Equal(t, tc.wantRequeue, len(timers) > 0, "requeued for a replacement delay: %v", timers)
	return f
}

// TestSyncIndexedJob pins the Indexed behaviours of upstream's
// TestControllerSyncJob (cases 25–33 of the checklist, under their names)
// and field report F12.
func TestSyncIndexedJob(t *testing.T) {
	cases := []syncIndexedCase{
		{name: "indexed job start", parallelism: 2, completions: 5, backoffLimit: 6,
			wantCreatedIndexes: []int{0, 1}, wantActive: 2},
		{name: "indexed job completed", parallelism: 2, completions: 3, backoffLimit: 6,
			pods: []indexedPod{
				{index: "0", phase: v1.PodSucceeded}, {index: "1", phase: v1.PodFailed},
				{index: "1", phase: v1.PodSucceeded}, {index: "2", phase: v1.PodSucceeded}},
			wantPatches: 4, wantSucceeded: 3, wantFailed: 1, wantCompletedIndexes: "0-2",
			wantConditions: []string{"SuccessCriteriaMet=True:CompletionsReached", "Complete=True:CompletionsReached"}},
		{name: "indexed job failed", parallelism: 2, completions: 3, backoffLimit: 0,
			pods: []indexedPod{
				{index: "0", phase: v1.PodSucceeded}, {index: "1", phase: v1.PodFailed},
				{index: "2", phase: v1.PodRunning, ready: true}},
			// The running pod is stopped and counted as failed with the Job;
			// Failed waits until it has terminated (rule S5).
			wantDeleted: []string{"running-2-2"}, wantPatches: 3, wantTerminating: 1,
			wantSucceeded: 1, wantFailed: 2, wantCompletedIndexes: "0",
			wantConditions: []string{"FailureTarget=True:BackoffLimitExceeded"}},
		{name: "indexed job repeated completed index", parallelism: 2, completions: 3, backoffLimit: 6,
			// F12: two successes of index 1 are one completion; index 2 still runs.
			pods: []indexedPod{
				{index: "0", phase: v1.PodSucceeded}, {index: "1", phase: v1.PodSucceeded},
				{index: "1", phase: v1.PodSucceeded}},
			wantCreatedIndexes: []int{2}, wantPatches: 3, wantActive: 1,
			wantSucceeded: 2, wantCompletedIndexes: "0,1"},
		{name: "indexed job some running and completed pods", parallelism: 8, completions: 14, backoffLimit: 6,
			pods: []indexedPod{
				{index: "0", phase: v1.PodRunning}, {index: "2", phase: v1.PodSucceeded},
				{index: "3", phase: v1.PodPending}, {index: "4", phase: v1.PodSucceeded},
				{index: "5", phase: v1.PodSucceeded}, {index: "7", phase: v1.PodSucceeded},
				{index: "8", phase: v1.PodSucceeded}, {index: "9", phase: v1.PodSucceeded}},
			wantCreatedIndexes: []int{1, 6, 10, 11, 12, 13}, wantPatches: 6, wantActive: 8,
			wantSucceeded: 6, wantCompletedIndexes: "2,4,5,7-9"},
		{name: "active pod of an already succeeded index is left to finish", parallelism: 2, completions: 3, backoffLimit: 6,
			pods: []indexedPod{
				{index: "1", phase: v1.PodSucceeded}, {index: "1", phase: v1.PodRunning}},
			wantCreatedIndexes: []int{0}, wantPatches: 1, wantActive: 2, wantSucceeded: 1, wantCompletedIndexes: "1"},
		{name: "indexed job some failed pods", parallelism: 3, completions: 4, backoffLimit: 6,
			pods: []indexedPod{
				{index: "0", phase: v1.PodFailed}, {index: "1", phase: v1.PodPending},
				{index: "2", phase: v1.PodFailed}},
			wantCreatedIndexes: []int{0, 2}, wantPatches: 2, wantActive: 3, wantFailed: 2},
		{name: "indexed job some pods without index", parallelism: 2, completions: 5, backoffLimit: 6,
			// Pods without an index are deleted first and never counted, as
			// succeeded or as failed; they only lose their finalizer.
			pods: []indexedPod{
				{index: "", phase: v1.PodRunning}, {index: "", phase: v1.PodSucceeded},
				{index: "bad", phase: v1.PodFailed}, {index: "bad", phase: v1.PodPending},
				{index: "0", phase: v1.PodSucceeded}, {index: "1", phase: v1.PodRunning},
				{index: "2", phase: v1.PodRunning}},
			wantDeleted: []string{"pending-bad-3", "running--0"}, wantPatches: 5,
			wantActive: 2, wantTerminating: 2, wantSucceeded: 1, wantCompletedIndexes: "0"},
		{name: "indexed job repeated indexes", parallelism: 5, completions: 5, backoffLimit: 6,
			// Of two pods of index 2 the less advanced (Pending) one goes; it
			// is not counted as failed (F12).
			pods: []indexedPod{
				{index: "", phase: v1.PodRunning}, {index: "0", phase: v1.PodSucceeded},
				{index: "1", phase: v1.PodRunning}, {index: "2", phase: v1.PodRunning},
				{index: "2", phase: v1.PodPending}},
			wantDeleted: []string{"pending-2-4", "running--0"}, wantPatches: 3,
			wantActive: 2, wantTerminating: 2, wantSucceeded: 1, wantCompletedIndexes: "0"},
		{name: "indexed job with indexes outside of range", parallelism: 2, completions: 5, backoffLimit: 6,
			pods: []indexedPod{
				{index: "0", phase: v1.PodSucceeded}, {index: "5", phase: v1.PodRunning},
				{index: "6", phase: v1.PodSucceeded}, {index: "7", phase: v1.PodPending},
				{index: "8", phase: v1.PodFailed}},
			// Deleting comes first; the missing indexes are created next sync.
			wantDeleted: []string{"pending-7-3", "running-5-1"}, wantPatches: 5,
			wantTerminating: 2, wantSucceeded: 1, wantCompletedIndexes: "0"},
		{name: "indexed job with some pods deleted, podReplacementPolicy Failed", parallelism: 2, completions: 5, backoffLimit: 6,
			replacement: batchv1.Failed,
			// Index 1 is taken until its terminating pod has failed.
			pods:               []indexedPod{{index: "1", phase: v1.PodRunning, terminating: true}},
			wantCreatedIndexes: []int{0}, wantActive: 1, wantTerminating: 1},
		{name: "indexed job with some pods deleted, podReplacementPolicy TerminatingOrFailed", parallelism: 2, completions: 5, backoffLimit: 6,
			replacement: batchv1.TerminatingOrFailed,
			// The terminating pod already counts as failed: index 1 is replaced now.
			pods:               []indexedPod{{index: "1", phase: v1.PodRunning, terminating: true}},
			wantCreatedIndexes: []int{0, 1}, wantPatches: 1, wantActive: 2, wantTerminating: 1, wantFailed: 1},
		{name: "count terminating pods when indexed job fails and PodReplacementPolicy enabled", parallelism: 2, completions: 5, backoffLimit: 0,
			replacement: batchv1.Failed,
			pods: []indexedPod{
				{index: "0", phase: v1.PodFailed}, {index: "1", phase: v1.PodRunning, terminating: true}},
			wantPatches: 2, wantTerminating: 1, wantFailed: 2,
			wantConditions: []string{"FailureTarget=True:BackoffLimitExceeded"}},
		{name: "elastic indexed job scaled down drops the indexes out of range", parallelism: 2, completions: 2, backoffLimit: 6,
			status: batchv1.JobStatus{CompletedIndexes: "1,3", Succeeded: 2, Failed: 1},
			// Index 2's pod is surplus now: deleted without being counted.
			// The failure counted before stays counted.
			pods:        []indexedPod{{index: "0", phase: v1.PodRunning}, {index: "2", phase: v1.PodRunning}},
			wantDeleted: []string{"running-2-1"}, wantPatches: 1,
			wantActive: 1, wantTerminating: 1, wantSucceeded: 1, wantFailed: 1, wantCompletedIndexes: "1"},
		{name: "elastic indexed job scaled up creates the new indexes", parallelism: 4, completions: 4, backoffLimit: 6,
			status:             batchv1.JobStatus{CompletedIndexes: "0,1", Succeeded: 2},
			wantCreatedIndexes: []int{2, 3}, wantActive: 2, wantSucceeded: 2, wantCompletedIndexes: "0,1"},
		{name: "elastic indexed job scaled to zero completes", parallelism: 0, completions: 0, backoffLimit: 6,
			status:         batchv1.JobStatus{CompletedIndexes: "0", Succeeded: 1},
			wantConditions: []string{"SuccessCriteriaMet=True:CompletionsReached", "Complete=True:CompletionsReached"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runSyncIndexedCase(t, tc) })
	}
}

// TestIndexedSuccessIsRecordedByIndex: the index in completedIndexes is the
// crash-safe record of a success, so the pod's UID never goes through
// uncountedTerminatedPods, and its finalizer goes only after that write.
func TestIndexedSuccessIsRecordedByIndex(t *testing.T) {
	job := newIndexedJob(1, 1, 6)
	done := indexedPods(job, []indexedPod{{index: "0", phase: v1.PodSucceeded}})[0]
	f := newFixture(t, job, done)
	f.client.ClearActions()
	require.NoError(t, f.sync(job))

	log := f.actionLog()
	require.Len(t, log, 3)
	assert.Equal(t, "update jobs/status", log[0])
	assert.True(t, strings.HasPrefix(log[1], "patch pods "+done.Name), log[1])
	assert.Equal(t, "update jobs/status", log[2])
	var first *batchv1.JobStatus
	for _, a := range f.client.Actions() {
		if u, ok := a.(k8stesting.UpdateAction); ok && first == nil {
			first = &u.GetObject().(*batchv1.Job).Status
		}
	}
	assert.Equal(t, "0", first.CompletedIndexes, "the index is written before the finalizer goes")
	assert.Equal(t, int32(1), first.Succeeded)
	assert.Empty(t, first.UncountedTerminatedPods.Succeeded)
	assert.Equal(t, []string{"SuccessCriteriaMet=True:CompletionsReached", "Complete=True:CompletionsReached"},
		conditionSummary(f.lastStatus()))
}

// TestNewIndexedPod pins what an Indexed pod carries (§5.3).
func TestNewIndexedPod(t *testing.T) {
	job := newIndexedJob(1, 3, 6)
	job.Spec.Template.Spec.Subdomain = "workers"
	job.Spec.Template.Spec.Hostname = "ignored"
	job.Spec.Template.Spec.InitContainers = []v1.Container{{Name: "init", Image: "busybox"}}
	job.Spec.Template.Spec.Containers = append(job.Spec.Template.Spec.Containers, v1.Container{
		Name: "own-env", Image: "busybox", Env: []v1.EnvVar{{Name: CompletionIndexEnvName, Value: "mine"}}})

	pod := newIndexedPod(job, 2)
	assert.Equal(t, "2", pod.Annotations[batchv1.JobCompletionIndexAnnotation], "annotation: what the controller reads")
	assert.Equal(t, "2", pod.Labels[batchv1.JobCompletionIndexAnnotation], "label: for selectors and the env var")
	assert.Equal(t, "job-2", pod.Spec.Hostname)
	assert.Equal(t, "workers", pod.Spec.Subdomain, "the subdomain is the template's: <job>-<index>.<subdomain> resolves")
	assert.Equal(t, "job-2-", pod.GenerateName)
	want := v1.EnvVar{Name: CompletionIndexEnvName, ValueFrom: &v1.EnvVarSource{
		FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels['batch.kubernetes.io/job-completion-index']"}}}
	assert.Equal(t, []v1.EnvVar{want}, pod.Spec.InitContainers[0].Env)
	assert.Equal(t, []v1.EnvVar{want}, pod.Spec.Containers[0].Env)
	assert.Equal(t, []v1.EnvVar{{Name: CompletionIndexEnvName, Value: "mine"}}, pod.Spec.Containers[1].Env,
		"a variable the template defines is left alone")
	assert.Empty(t, job.Spec.Template.Labels[batchv1.JobCompletionIndexAnnotation], "the Job's template is not modified")
	assert.Empty(t, job.Spec.Template.Spec.Containers[0].Env)
}

func TestIndexedPodNamePrefix(t *testing.T) {
	cases := []struct {
		name    string
		jobName string
		index   int
		want    string
	}{
		{name: "short name", jobName: "job", index: 7, want: "job-7-"},
		{name: "exactly the limit", jobName: strings.Repeat("a", 55), index: 1, want: strings.Repeat("a", 55) + "-1-"},
		{name: "long name is cut, index kept", jobName: strings.Repeat("a", 60), index: 12345,
			want: strings.Repeat("a", 51) + "-12345-"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := indexedPodNamePrefix(tc.jobName, tc.index)
			assert.Equal(t, tc.want, got)
			assert.LessOrEqual(t, len(got), MaxGeneratedNameLength)
		})
	}
}

// TestUnknownCompletionMode: a mode this controller does not know gets a
// Warning and no writes.
func TestUnknownCompletionMode(t *testing.T) {
	job := newJob(1, ptr.To[int32](1), 6)
	job.Spec.CompletionMode = ptr.To(batchv1.CompletionMode("Sharded"))
	f := newFixture(t, job)
	f.client.ClearActions()
	require.NoError(t, f.sync(job))
	assert.Empty(t, f.client.Actions())
	assert.Equal(t, []string{"Warning UnknownCompletionMode Skipped Job sync because completion mode is unknown"}, f.events())
}

// TestRemovalOrderBadPodsFirst: pods named first always go, the rest follow the
// scale-down order, and no sync deletes more than MaxPodCreateDeletePerSync.
func TestRemovalOrderBadPodsFirst(t *testing.T) {
	job := newIndexedJob(1, 1, 6)
	running := podOf(job, "running", v1.PodRunning)
	pending := podOf(job, "pending", v1.PodPending)
	bad := podOf(job, "bad", v1.PodRunning)
	pods := []*v1.Pod{running, bad, pending}

	assert.Equal(t, []*v1.Pod{bad}, removalOrder(pods, 0, bad), "bad pods go even when nothing is surplus")
	assert.Equal(t, []*v1.Pod{bad, pending}, removalOrder(pods, 2, bad), "then the least advanced")
	assert.Equal(t, []*v1.Pod{pending, running}, removalOrder(pods, 2))
	assert.Equal(t, []*v1.Pod{running, bad, pending}, pods, "the caller's slice is not reordered")

	many := podSet(job, "p", MaxPodCreateDeletePerSync+10, v1.PodRunning)
	assert.Len(t, removalOrder(many, len(many)), MaxPodCreateDeletePerSync)
	assert.Len(t, removalOrder(many, 0, many...), MaxPodCreateDeletePerSync)
}
