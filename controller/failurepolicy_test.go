package controller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

const (
	failJob   = batchv1.PodFailurePolicyActionFailJob
	ignore    = batchv1.PodFailurePolicyActionIgnore
	count     = batchv1.PodFailurePolicyActionCount
	failIndex = batchv1.PodFailurePolicyActionFailIndex
	opIn      = batchv1.PodFailurePolicyOnExitCodesOpIn
	opNotIn   = batchv1.PodFailurePolicyOnExitCodesOpNotIn
)

// TestMatchFailurePolicy pins rule matching (§5.9): which rule a failed pod
// matches, what that does to the count, and the FailJob messages.
func TestMatchFailurePolicy(t *testing.T) {
	inContainer := func(name string, r batchv1.PodFailurePolicyRule) batchv1.PodFailurePolicyRule {
		r.OnExitCodes.ContainerName = ptr.To(name)
		return r
	}
	cases := []struct {
		name        string
		rules       []batchv1.PodFailurePolicyRule // nil: no policy
		pod         []func(*v1.Pod) *v1.Pod
		wantAction  batchv1.PodFailurePolicyAction
		wantRule    int
		wantCounted bool
		wantMessage string
	}{
		{name: "no policy: every failure counts",
			pod: []func(*v1.Pod) *v1.Pod{exited("main", 1)}, wantCounted: true},
		{name: "no rule matches: the failure counts",
			rules: []batchv1.PodFailurePolicyRule{onExitCodes(failJob, opIn, 42)},
			pod:   []func(*v1.Pod) *v1.Pod{exited("main", 1)}, wantCounted: true},
		{name: "exit code In matches FailJob",
			rules:      []batchv1.PodFailurePolicyRule{onExitCodes(failJob, opIn, 1, 42)},
			pod:        []func(*v1.Pod) *v1.Pod{exited("main", 42)},
			wantAction: failJob, wantCounted: true,
			wantMessage: "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 0"},
		{name: "exit code NotIn matches every other failure",
			rules:      []batchv1.PodFailurePolicyRule{onExitCodes(ignore, opNotIn, 1, 2)},
			pod:        []func(*v1.Pod) *v1.Pod{exited("main", 3)},
			wantAction: ignore},
		{name: "exit code NotIn skips the listed codes",
			rules: []batchv1.PodFailurePolicyRule{onExitCodes(ignore, opNotIn, 1, 2)},
			pod:   []func(*v1.Pod) *v1.Pod{exited("main", 2)}, wantCounted: true},
		{name: "exit code 0 never matches, not even NotIn",
			rules: []batchv1.PodFailurePolicyRule{onExitCodes(failJob, opNotIn, 1)},
			pod:   []func(*v1.Pod) *v1.Pod{exited("main", 0), exited("sidecar", 0)}, wantCounted: true},
		{name: "negative exit code (Windows) matches",
			rules:      []batchv1.PodFailurePolicyRule{onExitCodes(failJob, opIn, -1073741510)},
			pod:        []func(*v1.Pod) *v1.Pod{exited("main", -1073741510)},
			wantAction: failJob, wantCounted: true,
			wantMessage: "Container main for pod ns/p failed with exit code -1073741510 matching FailJob rule at index 0"},
		{name: "default handling for pod failure if the container matching the exit codes does not match the containerName restriction",
			rules: []batchv1.PodFailurePolicyRule{inContainer("other", onExitCodes(failJob, opIn, 5))},
			pod:   []func(*v1.Pod) *v1.Pod{exited("main", 5), exited("other", 1)}, wantCounted: true},
		{name: "containerName picks its container among several",
			rules:      []batchv1.PodFailurePolicyRule{inContainer("other", onExitCodes(failJob, opIn, 5))},
			pod:        []func(*v1.Pod) *v1.Pod{exited("main", 1), exited("other", 5)},
			wantAction: failJob, wantCounted: true,
			wantMessage: "Container other for pod ns/p failed with exit code 5 matching FailJob rule at index 0"},
		{name: "regular containers are looked at before init containers",
			rules:      []batchv1.PodFailurePolicyRule{onExitCodes(failJob, opNotIn, 0)},
			pod:        []func(*v1.Pod) *v1.Pod{initExited("setup", 3), exited("main", 7)},
			wantAction: failJob, wantCounted: true,
			wantMessage: "Container main for pod ns/p failed with exit code 7 matching FailJob rule at index 0"},
		{name: "a failed init container matches",
			rules:      []batchv1.PodFailurePolicyRule{onExitCodes(failJob, opIn, 3)},
			pod:        []func(*v1.Pod) *v1.Pod{initExited("setup", 3)},
			wantAction: failJob, wantCounted: true,
			wantMessage: "Container setup for pod ns/p failed with exit code 3 matching FailJob rule at index 0"},
		{name: "running pod should not result in job fail based on OnExitCodes",
			rules: []batchv1.PodFailurePolicyRule{onExitCodes(failJob, opNotIn, 0)},
			pod: []func(*v1.Pod) *v1.Pod{func(p *v1.Pod) *v1.Pod {
				p.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "main", State: v1.ContainerState{Running: &v1.ContainerStateRunning{}}}}
				return p
			}},
			wantCounted: true},
		{name: "DisruptionTarget matches Ignore",
			rules:      []batchv1.PodFailurePolicyRule{onCondition(ignore, v1.DisruptionTarget)},
			pod:        []func(*v1.Pod) *v1.Pod{exited("main", 143), withCondition(v1.DisruptionTarget, v1.ConditionTrue)},
			wantAction: ignore},
		{name: "condition with another status does not match",
			rules: []batchv1.PodFailurePolicyRule{onCondition(ignore, v1.DisruptionTarget)},
			pod:   []func(*v1.Pod) *v1.Pod{exited("main", 143), withCondition(v1.DisruptionTarget, v1.ConditionFalse)}, wantCounted: true},
		{name: "pattern status defaults to True",
			rules: []batchv1.PodFailurePolicyRule{{Action: failJob, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
				{Type: v1.DisruptionTarget}}}},
			pod:        []func(*v1.Pod) *v1.Pod{exited("main", 143), withCondition(v1.DisruptionTarget, v1.ConditionTrue)},
			wantAction: failJob, wantCounted: true,
			wantMessage: "Pod ns/p has condition DisruptionTarget matching FailJob rule at index 0"},
		{name: "ignore pod failure; both rules are matching, the first is executed only",
			rules:      []batchv1.PodFailurePolicyRule{onCondition(ignore, v1.DisruptionTarget), onExitCodes(failJob, opIn, 143)},
			pod:        []func(*v1.Pod) *v1.Pod{exited("main", 143), withCondition(v1.DisruptionTarget, v1.ConditionTrue)},
			wantAction: ignore},
		{name: "count rule first stops a later FailJob (F11 b)",
			rules:      []batchv1.PodFailurePolicyRule{onCondition(count, v1.DisruptionTarget), onExitCodes(failJob, opNotIn, 0)},
			pod:        []func(*v1.Pod) *v1.Pod{exited("main", 143), withCondition(v1.DisruptionTarget, v1.ConditionTrue)},
			wantAction: count, wantCounted: true},
		{name: "the rule index is reported",
			rules:      []batchv1.PodFailurePolicyRule{onCondition(count, v1.DisruptionTarget), onExitCodes(failJob, opNotIn, 0)},
			pod:        []func(*v1.Pod) *v1.Pod{exited("main", 2)},
			wantAction: failJob, wantRule: 1, wantCounted: true,
			wantMessage: "Container main for pod ns/p failed with exit code 2 matching FailJob rule at index 1"},
		{name: "FailIndex counts the failure",
			rules:      []batchv1.PodFailurePolicyRule{onExitCodes(failIndex, opIn, 4)},
			pod:        []func(*v1.Pod) *v1.Pod{exited("main", 4)},
			wantAction: failIndex, wantCounted: true},
		{name: "a rule with an unknown action is skipped",
			rules:      []batchv1.PodFailurePolicyRule{onExitCodes("Retry", opIn, 4), onExitCodes(ignore, opIn, 4)},
			pod:        []func(*v1.Pod) *v1.Pod{exited("main", 4)},
			wantAction: ignore, wantRule: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := newJob(1, ptr.To[int32](1), 6)
			if tc.rules != nil {
				withPolicy(job, tc.rules...)
			}
			p := pod(job, "p", v1.PodFailed, tc.pod...)
			m := matchFailurePolicy(job, p)
			assert.Equal(t, tc.wantAction, m.action, "action")
			if tc.wantAction != "" {
				assert.Equal(t, tc.wantRule, m.rule, "rule index")
			}
			assert.Equal(t, tc.wantCounted, m.counted(), "counted")
			assert.Equal(t, tc.wantCounted, failureCounted(job, p), "failureCounted")
			assert.Equal(t, tc.wantMessage, m.message, "message")
		})
	}
}

// TestSyncJobWithJobPodFailurePolicy pins what the policy does to a sync:
// the decision, the counts, replacements and the terminal condition.
func TestSyncJobWithJobPodFailurePolicy(t *testing.T) {
	exitCode42 := "Container main for pod ns/failed failed with exit code 42 matching FailJob rule at index 0"
	cases := []struct {
		name         string
		parallelism  int32
		backoffLimit int32
		rules        []batchv1.PodFailurePolicyRule
		status       batchv1.JobStatus
		pods         []*v1.Pod
		backoff      backoffRecord
		// expected
		wantCreations, wantDeletions, wantPatches int
		wantActive, wantFailed, wantTerminating   int32
		wantConditions                            []string
		wantMessage                               string // of FailureTarget / Failed
		wantTimers                                []time.Duration
	}{
		{name: "fail job based on OnExitCodes",
			parallelism: 1, backoffLimit: 6, rules: []batchv1.PodFailurePolicyRule{onExitCodes(failJob, opIn, 42)},
			pods:        []*v1.Pod{pod(newJob(1, nil, 0), "failed", v1.PodFailed, exited("main", 42))},
			wantPatches: 1, wantFailed: 1,
			wantConditions: []string{"FailureTarget=True:PodFailurePolicy", "Failed=True:PodFailurePolicy"},
			wantMessage:    exitCode42},
		{name: "fail job with multiple pods",
			parallelism: 2, backoffLimit: 6, rules: []batchv1.PodFailurePolicyRule{onExitCodes(failJob, opIn, 42)},
			pods: []*v1.Pod{
				pod(newJob(1, nil, 0), "failed", v1.PodFailed, exited("main", 42)),
				pod(newJob(1, nil, 0), "running", v1.PodRunning),
			},
			wantDeletions: 1, wantPatches: 2, wantFailed: 2, wantTerminating: 1,
			wantConditions: []string{"FailureTarget=True:PodFailurePolicy"},
			wantMessage:    exitCode42},
		{name: "job marked already as failure target with failed pod",
			parallelism: 1, backoffLimit: 6, rules: []batchv1.PodFailurePolicyRule{onExitCodes(failJob, opIn, 42)},
			status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{
				newCondition(batchv1.JobFailureTarget, v1.ConditionTrue, ReasonPodFailurePolicy, exitCode42, testNow)}},
			pods:        []*v1.Pod{pod(newJob(1, nil, 0), "failed", v1.PodFailed, exited("main", 42))},
			wantPatches: 1, wantFailed: 1,
			wantConditions: []string{"FailureTarget=True:PodFailurePolicy", "Failed=True:PodFailurePolicy"},
			wantMessage:    exitCode42},
		{name: "job marked already as failure target with terminating pod",
			parallelism: 1, backoffLimit: 6, rules: []batchv1.PodFailurePolicyRule{onExitCodes(failJob, opIn, 42)},
			status: batchv1.JobStatus{Failed: 1, Conditions: []batchv1.JobCondition{
				newCondition(batchv1.JobFailureTarget, v1.ConditionTrue, ReasonPodFailurePolicy, exitCode42, testNow)}},
			pods: []*v1.Pod{func() *v1.Pod {
				p := pod(newJob(1, nil, 0), "stopping", v1.PodRunning, markDeleted)
				p.Finalizers = nil // counted when the Job started failing
				return p
			}()},
			wantFailed: 1, wantTerminating: 1,
			wantConditions: []string{"FailureTarget=True:PodFailurePolicy"},
			wantMessage:    exitCode42},
		{name: "ignore pod failure based on DisruptionTarget condition",
			parallelism: 1, backoffLimit: 0, rules: []batchv1.PodFailurePolicyRule{onCondition(ignore, v1.DisruptionTarget)},
			pods: []*v1.Pod{pod(newJob(1, nil, 0), "evicted", v1.PodFailed,
				exited("main", 143), withCondition(v1.DisruptionTarget, v1.ConditionTrue))},
			// The exit finished at testNow: the replacement waits 10 s.
			wantPatches: 1, wantTimers: []time.Duration{PodFailureBackoffBase}},
		{name: "ignored failures do not use up the backoff limit (F11 c)",
			parallelism: 1, backoffLimit: 1, rules: []batchv1.PodFailurePolicyRule{onCondition(ignore, v1.DisruptionTarget), onExitCodes(failJob, opNotIn, 0)},
			status:  batchv1.JobStatus{Failed: 0},
			backoff: backoffRecord{failuresSinceSuccess: 1, lastFailure: testNow.Add(-time.Hour)},
			pods: []*v1.Pod{
				podNoFinalizer(pod(newJob(1, nil, 0), "evicted-1", v1.PodFailed, exited("main", 143), withCondition(v1.DisruptionTarget, v1.ConditionTrue))),
				pod(newJob(1, nil, 0), "evicted-2", v1.PodFailed, exited("main", 143), withCondition(v1.DisruptionTarget, v1.ConditionTrue)),
			},
			// Two failures since the last success: 20 s from the second.
			wantPatches: 1, wantTimers: []time.Duration{2 * PodFailureBackoffBase}},
		{name: "count pod failure based on DisruptionTarget condition (F11 b)",
			parallelism: 1, backoffLimit: 1, rules: []batchv1.PodFailurePolicyRule{onCondition(count, v1.DisruptionTarget), onExitCodes(failJob, opNotIn, 0)},
			status: batchv1.JobStatus{Failed: 1},
			pods: []*v1.Pod{
				pod(newJob(1, nil, 0), "evicted-2", v1.PodFailed, exited("main", 143), withCondition(v1.DisruptionTarget, v1.ConditionTrue)),
			},
			wantPatches: 1, wantFailed: 2,
			wantConditions: []string{"FailureTarget=True:BackoffLimitExceeded", "Failed=True:BackoffLimitExceeded"},
			wantMessage:    MessageBackoffLimit},
		{name: "count rule: the failure counts and its replacement waits",
			parallelism: 1, backoffLimit: 6, rules: []batchv1.PodFailurePolicyRule{onExitCodes(count, opIn, 1)},
			pods:        []*v1.Pod{pod(newJob(1, nil, 0), "failed", v1.PodFailed, exited("main", 1))},
			wantPatches: 1, wantFailed: 1,
			wantTimers: []time.Duration{PodFailureBackoffBase}},
		{name: "a terminating pod is judged only once it has failed",
			parallelism: 1, backoffLimit: 6, rules: []batchv1.PodFailurePolicyRule{onExitCodes(failJob, opNotIn, 0)},
			pods: []*v1.Pod{pod(newJob(1, nil, 0), "stopping", v1.PodRunning, markDeleted)},
			// Failed policy: it holds its place, so nothing is created.
			wantTerminating: 1},
		{name: "FailJob rule checked before the backoff limit",
			parallelism: 1, backoffLimit: 0, rules: []batchv1.PodFailurePolicyRule{onExitCodes(failJob, opIn, 42)},
			pods:        []*v1.Pod{pod(newJob(1, nil, 0), "failed", v1.PodFailed, exited("main", 42))},
			wantPatches: 1, wantFailed: 1,
			wantConditions: []string{"FailureTarget=True:PodFailurePolicy", "Failed=True:PodFailurePolicy"},
			wantMessage:    exitCode42},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := withPolicy(newJob(tc.parallelism, ptr.To[int32](5), tc.backoffLimit), tc.rules...)
			job.Status = tc.status
			job.Status.StartTime = timeAgo(time.Minute)
			var pods []*v1.Pod
			for _, p := range tc.pods {
				p := p.DeepCopy()
				p.OwnerReferences[0].UID = job.UID
				pods = append(pods, p)
			}
			got := syncOnce(t, job, pods, func(f *fixture) {
				if tc.backoff != (backoffRecord{}) {
					f.ctrl.backoff.set(job.UID, tc.backoff)
				}
			})
			assert.Equal(t, tc.wantCreations, got.counts.creations, "pod creations")
			assert.Equal(t, tc.wantDeletions, got.counts.deletions, "pod deletions")
			assert.Equal(t, tc.wantPatches, got.counts.patches, "pod patches")
			require.NotNil(t, got.status, "the sync writes the status")
			assert.Equal(t, tc.wantActive, got.status.Active, "active")
			assert.Equal(t, tc.wantFailed, got.status.Failed, "failed")
			assert.Equal(t, ptr.To(tc.wantTerminating), got.status.Terminating, "terminating")
			assert.Equal(t, tc.wantConditions, conditionSummary(got.status), "conditions")
			for _, c := range got.status.Conditions {
				assert.Equal(t, tc.wantMessage, c.Message, "message of %s", c.Type)
			}
			assert.Equal(t, tc.wantTimers, got.timers, "requeues for the replacement delay")
			if hasTrueCondition(got.status, batchv1.JobFailed) {
				assert.Contains(t, got.events, "Warning "+conditionOf(got.status, batchv1.JobFailed).Reason+" "+tc.wantMessage)
			}
		})
	}
}

func podNoFinalizer(p *v1.Pod) *v1.Pod {
	p.Finalizers = nil
	return p
}

func conditionOf(st *batchv1.JobStatus, t batchv1.JobConditionType) *batchv1.JobCondition {
	return findCondition(st, t)
}

// TestPodFailurePolicyPerIndex: with backoffLimitPerIndex the policy acts
// on indexes (§5.10): FailIndex fails the pod's index at once, Ignore is
// carried to the replacement as an ignored failure, FailJob fails the Job.
func TestPodFailurePolicyPerIndex(t *testing.T) {
	evicted := []func(*v1.Pod) *v1.Pod{exited("main", 143), withCondition(v1.DisruptionTarget, v1.ConditionTrue)}
	cases := []struct {
		name  string
		rules []batchv1.PodFailurePolicyRule
		// failed is how the failed pod of index 0 ended; index 1 runs.
		failed []func(*v1.Pod) *v1.Pod
		// expected
		wantCreated       map[int]string // failure counts of created pods by index ("counted/ignored")
		wantPatches       int
		wantFailed        int32
		wantFailedIndexes *string
		wantConditions    []string
	}{
		{name: "FailIndex fails the index at once",
			rules:       []batchv1.PodFailurePolicyRule{onExitCodes(failIndex, opIn, 42)},
			failed:      []func(*v1.Pod) *v1.Pod{exited("main", 42)},
			wantCreated: map[int]string{}, wantPatches: 1, wantFailed: 1, wantFailedIndexes: ptr.To("0")},
		{name: "Ignore is carried to the replacement as an ignored failure",
			rules:       []batchv1.PodFailurePolicyRule{onCondition(ignore, v1.DisruptionTarget)},
			failed:      evicted,
			wantCreated: map[int]string{0: "0/1"}, wantFailedIndexes: ptr.To("")},
		{name: "Count is carried as a counted failure",
			rules:       []batchv1.PodFailurePolicyRule{onCondition(count, v1.DisruptionTarget)},
			failed:      evicted,
			wantCreated: map[int]string{0: "1"}, wantFailedIndexes: ptr.To("")},
		{name: "FailJob fails the whole Job",
			rules:       []batchv1.PodFailurePolicyRule{onExitCodes(failJob, opIn, 42)},
			failed:      []func(*v1.Pod) *v1.Pod{exited("main", 42)},
			wantCreated: map[int]string{}, wantPatches: 2, wantFailed: 2, wantFailedIndexes: ptr.To(""),
			wantConditions: []string{"FailureTarget=True:PodFailurePolicy"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := withPolicy(newIndexedJob(2, 2, 6), tc.rules...)
			job.Spec.BackoffLimitPerIndex = ptr.To[int32](3)
			job.Status.StartTime = timeAgo(time.Hour)
			pods := indexedPods(job, []indexedPod{
				{index: "0", phase: v1.PodFailed, failuresBefore: "0"},
				{index: "1", phase: v1.PodRunning, failuresBefore: "0"}})
			for _, m := range tc.failed {
				pods[0] = m(pods[0])
			}
			// The failure ended an hour ago: no replacement delay is left.
			pods[0].Status.ContainerStatuses[0].State.Terminated.FinishedAt = *timeAgo(time.Hour)

			objects := []runtime.Object{job}
			for _, p := range pods {
				objects = append(objects, p)
			}
			f := newFixture(t, objects...)
			f.client.ClearActions()
			require.NoError(t, f.sync(job))

			assert.Equal(t, tc.wantCreated, f.createdFailureCounts(), "created pods and their failure counts")
			assert.Equal(t, tc.wantPatches, f.counts().patches, "finalizer removals")
			st := f.lastStatus()
			require.NotNil(t, st)
			assert.Equal(t, tc.wantFailed, st.Failed, "failed")
			assert.Equal(t, tc.wantFailedIndexes, st.FailedIndexes, "failedIndexes")
			assert.Equal(t, tc.wantConditions, conditionSummary(st), "conditions")
		})
	}
}
