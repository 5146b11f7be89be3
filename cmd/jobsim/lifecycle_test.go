package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"

	"github.com/kjob-dev/kjob/controller"
)

// The lifecycle examples of testdata/ run end to end on the simulator:
// the Job controller, the TTL controller, the kubelet and the scripted Job
// actions on one virtual clock. Times are checked to the second, since the
// whole run is deterministic.

// at is a virtual time as an offset from the start of the run.
func at(t time.Time) time.Duration { return t.Sub(simStart) }

// onlyJob returns the single Job of a run.
func onlyJob(t *testing.T, jobs []batchv1.Job) *batchv1.Job {
	t.Helper()
	require.Len(t, jobs, 1)
	return &jobs[0]
}

// trueCondition returns the Job's condition of that type with status True.
func trueCondition(t *testing.T, job *batchv1.Job, ct batchv1.JobConditionType) *batchv1.JobCondition {
	t.Helper()
	c := condition(job, ct)
	require.NotNil(t, c, "%s has no %s condition: %v", job.Name, ct, job.Status.Conditions)
	require.Equal(t, v1.ConditionTrue, c.Status, "%s: %s", job.Name, ct)
	return c
}

// TestDeadlineExample: testdata/deadline-job.yaml (activeDeadlineSeconds;
// e2e "should fail when exceeds active deadline").
func TestDeadlineExample(t *testing.T) {
	code, out, errOut := runJobsim(t, "-o", "json", "-q", testdata("deadline-job.yaml"))
	require.Equal(t, exitFailed, code, "stderr: %s", errOut)
	jobs, pods := decodeList(t, out)
	job := onlyJob(t, jobs)

	target := trueCondition(t, job, batchv1.JobFailureTarget)
	assert.Equal(t, controller.ReasonDeadlineExceeded, target.Reason)
	assert.Equal(t, controller.MessageDeadlineExceeded, target.Message)
	assert.Equal(t, 30*time.Second, at(target.LastTransitionTime.Time), "FailureTarget at startTime + 30 s")
	failed := trueCondition(t, job, batchv1.JobFailed)
	assert.Equal(t, controller.ReasonDeadlineExceeded, failed.Reason)
	assert.Equal(t, controller.MessageDeadlineExceeded, failed.Message)
	assert.False(t, failed.LastTransitionTime.Before(&target.LastTransitionTime), "Failed comes after FailureTarget")
	assert.Equal(t, int32(1), job.Status.Failed, "the running pod is counted as failed")
	assert.Equal(t, int32(0), job.Status.Active)
	assert.Equal(t, int32(0), *job.Status.Ready)
	assert.Equal(t, int32(0), *job.Status.Terminating)
	assert.Empty(t, pods, "the stopped pod is gone")
}

// TestSuspendResumeExample is field report F17 on the simulator:
// testdata/suspend-resume.yaml.
func TestSuspendResumeExample(t *testing.T) {
	code, out, errOut := runJobsim(t, "-o", "json", testdata("suspend-resume.yaml"))
	require.Equal(t, exitFailed, code, "stderr: %s", errOut)
	jobs, _ := decodeList(t, out)
	job := onlyJob(t, jobs)

	assert.Regexp(t, `\[\+30s\]\s+job/suspend-resume suspended\n\[\+30s\]\s+job/suspend-resume\s+Suspended\s+active=0 ready=0 succeeded=0 failed=0`, errOut,
		"t=30: pods deleted, not counted, Suspended")
	assert.Regexp(t, `\[\+3m20s\]\s+job/suspend-resume\s+Running\s+active=2`, errOut, "t=200: new pods")
	assert.NotRegexp(t, `\[\+(1m|2m|3m[01])[0-9]*s\]\s+job/suspend-resume\s+(FailureTarget|Failed)`, errOut,
		"no deadline failure while suspended")

	suspended := condition(job, batchv1.JobSuspended)
	require.NotNil(t, suspended)
	assert.Equal(t, v1.ConditionFalse, suspended.Status)
	assert.Equal(t, controller.ReasonJobResumed, suspended.Reason)
	assert.Equal(t, controller.MessageJobResumed, suspended.Message)
	assert.Equal(t, 200*time.Second, at(suspended.LastTransitionTime.Time))
	require.NotNil(t, job.Status.StartTime)
	assert.Equal(t, 200*time.Second, at(job.Status.StartTime.Time), "startTime reset by the resume")

	failed := trueCondition(t, job, batchv1.JobFailed)
	assert.Equal(t, controller.ReasonDeadlineExceeded, failed.Reason)
	assert.Equal(t, 260*time.Second, at(trueCondition(t, job, batchv1.JobFailureTarget).LastTransitionTime.Time),
		"the deadline counts from the resume")
	assert.Equal(t, int32(2), job.Status.Failed, "only the pods stopped by the deadline are failures")
	assert.Equal(t, int32(0), job.Status.Succeeded)
}

// TestCreatedSuspendedExample: testdata/suspended-job.yaml (e2e "should not
// create pods when created in suspend state").
func TestCreatedSuspendedExample(t *testing.T) {
	code, out, errOut := runJobsim(t, "-o", "json", testdata("suspended-job.yaml"))
	require.Equal(t, exitCompleted, code, "stderr: %s", errOut)
	jobs, pods := decodeList(t, out)
	job := onlyJob(t, jobs)
	assert.Regexp(t, `\[\+0s\]\s+job/queued\s+Suspended\s+active=0`, errOut)
	require.Len(t, pods, 3)
	for _, p := range pods {
		assert.Equal(t, time.Minute, at(p.CreationTimestamp.Time), "%s: no pod before the resume", p.Name)
	}
	assert.Equal(t, time.Minute, at(job.Status.StartTime.Time), "no startTime before the resume")
	assert.Equal(t, controller.ReasonJobResumed, condition(job, batchv1.JobSuspended).Reason)
	assert.Equal(t, int32(3), job.Status.Succeeded)
}

// TestRecreatedJobExample is field report F16 on the simulator:
// testdata/recreated-job.yaml.
func TestRecreatedJobExample(t *testing.T) {
	code, out, errOut := runJobsim(t, "-o", "json", testdata("recreated-job.yaml"))
	require.Equal(t, exitFailed, code, "stderr: %s", errOut)
	jobs, _ := decodeList(t, out)
	job := onlyJob(t, jobs)
	assert.Regexp(t, `\[\+20s\]\s+job/report deleted`, errOut)
	assert.Regexp(t, `\[\+25s\]\s+job/report created`, errOut)
	assert.Equal(t, 25*time.Second, at(job.CreationTimestamp.Time), "the second Job")
	assert.Equal(t, 25*time.Second, at(job.Status.StartTime.Time))
	target := trueCondition(t, job, batchv1.JobFailureTarget)
	assert.Equal(t, controller.ReasonDeadlineExceeded, target.Reason)
	assert.Equal(t, 65*time.Second, at(target.LastTransitionTime.Time), "its own startTime + 40 s")
	assert.Equal(t, int32(1), job.Status.Failed)
}

// TestPodFailurePolicyExamples: testdata/pod-failure-policy*.yaml and the
// variants of field report F11: (a) no policy, (b) Count, (c) Ignore.
func TestPodFailurePolicyExamples(t *testing.T) {
	tolerate, err := os.ReadFile(testdata("pod-failure-policy.yaml"))
	require.NoError(t, err)
	variant := func(name string, edit func(string) string) string {
		p := filepath.Join(t.TempDir(), name)
		require.NoError(t, os.WriteFile(p, []byte(edit(string(tolerate))), 0o644))
		return p
	}
	cases := []struct {
		name          string
		file          string
		wantCode      int
		wantPods      int
		wantFailed    int32
		wantSucceeded int32
		wantReason    string // of the terminal condition
		wantMessage   *regexp.Regexp
		// wantProgress are patterns the progress lines must match.
		wantProgress []string
	}{
		{name: "F11 (c): evictions ignored, replaced, the Job completes",
			file: testdata("pod-failure-policy.yaml"), wantCode: exitCompleted,
			wantPods: 1, wantSucceeded: 1, wantReason: controller.ReasonCompletionsReached,
			wantProgress: []string{
				// Each eviction (after 10 s of running) leaves active=0 and
				// failed=0; replacements wait 10 s, then 20 s.
				`\[\+12s\]\s+job/tolerate-evictions\s+Running\s+active=0 ready=0 succeeded=0 failed=0`,
				`\[\+21s\]\s+job/tolerate-evictions\s+Running\s+active=1`,
				`\[\+33s\]\s+job/tolerate-evictions\s+Running\s+active=0 ready=0 succeeded=0 failed=0`,
				`\[\+52s\]\s+job/tolerate-evictions\s+Running\s+active=1`,
			}},
		{name: "F11 (b): evictions counted first, BackoffLimitExceeded and not PodFailurePolicy",
			file: variant("count.yaml", func(s string) string {
				return strings.Replace(s, "- action: Ignore", "- action: Count", 1)
			}), wantCode: exitFailed,
			wantPods: 0, wantFailed: 2, wantReason: controller.ReasonBackoffLimitExceeded},
		{name: "F11 (a): no policy, backoffLimit 0, one eviction fails the Job",
			file: variant("nopolicy.yaml", func(s string) string {
				s = s[:strings.Index(s, "  podFailurePolicy:")] + s[strings.Index(s, "  template:"):]
				return strings.Replace(s, "backoffLimit: 1", "backoffLimit: 0", 1)
			}), wantCode: exitFailed,
			wantPods: 0, wantFailed: 1, wantReason: controller.ReasonBackoffLimitExceeded},
		{name: "FailJob on exit code 42",
			file: testdata("pod-failure-policy-failjob.yaml"), wantCode: exitFailed,
			wantPods: 1, wantFailed: 1, wantReason: controller.ReasonPodFailurePolicy,
			wantMessage: regexp.MustCompile(`^Container worker for pod default/bad-input-[a-z0-9]{5} failed with exit code 42 matching FailJob rule at index 0$`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runJobsim(t, "-o", "json", tc.file)
			require.Equal(t, tc.wantCode, code, "stderr: %s", errOut)
			for _, p := range tc.wantProgress {
				assert.Regexp(t, p, errOut)
			}
			jobs, pods := decodeList(t, out)
			job := onlyJob(t, jobs)
			terminal := batchv1.JobComplete
			if tc.wantCode == exitFailed {
				terminal = batchv1.JobFailed
			}
			c := trueCondition(t, job, terminal)
			assert.Equal(t, tc.wantReason, c.Reason)
			if tc.wantMessage != nil {
				assert.Regexp(t, tc.wantMessage, c.Message)
			}
			assert.Equal(t, tc.wantFailed, job.Status.Failed, "failed")
			assert.Equal(t, tc.wantSucceeded, job.Status.Succeeded, "succeeded")
			// Evicted pods are deleted; a replacement created after the Job
			// failed would have been counted as failed too.
			assert.Len(t, pods, tc.wantPods, "pods left")
		})
	}
}

// TestTTLExample: testdata/ttl-job.yaml, and TTL 0.
func TestTTLExample(t *testing.T) {
	ttl, err := os.ReadFile(testdata("ttl-job.yaml"))
	require.NoError(t, err)
	zero := filepath.Join(t.TempDir(), "zero.yaml")
	require.NoError(t, os.WriteFile(zero, []byte(strings.Replace(string(ttl), "ttlSecondsAfterFinished: 100\n", "ttlSecondsAfterFinished: 0\n", 1)), 0o644))
	cases := []struct {
		name string
		file string
		want string // progress line
	}{
		{name: "deleted 100 s after it completed", file: testdata("ttl-job.yaml"),
			want: `[+1m47s]  job/short-lived  deleted (Complete, ttlSecondsAfterFinished: 100)`},
		{name: "TTL 0: deleted as soon as it completed", file: zero,
			want: `[+7s]     job/short-lived  deleted (Complete, ttlSecondsAfterFinished: 0)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runJobsim(t, "-o", "json", tc.file)
			require.Equal(t, exitCompleted, code, "a completed Job deleted by its TTL still completed; stderr: %s", errOut)
			assert.Contains(t, errOut, tc.want)
			jobs, pods := decodeList(t, out)
			assert.Empty(t, jobs, "the Job is gone")
			assert.Empty(t, pods, "its pods went with it")
		})
	}
}

// TestReplacementPolicyExample: testdata/replacement-policy.yaml (e2e
// "should recreate pods only after they have failed if pod replacement
// policy is set to Failed").
func TestReplacementPolicyExample(t *testing.T) {
	code, out, errOut := runJobsim(t, "-o", "json", testdata("replacement-policy.yaml"))
	require.Equal(t, exitCompleted, code, "stderr: %s", errOut)
	_, pods := decodeList(t, out)
	// The evicted pods are gone; the replacements remain.
	created := map[string]time.Duration{}
	for _, p := range pods {
		created[p.Labels[batchv1.JobNameLabel]] = at(p.CreationTimestamp.Time)
	}
	// Evicted at +6s, SIGTERM handled in 20 s: the pod ends at +26s.
	assert.Equal(t, 16*time.Second, created["eager"], "TerminatingOrFailed: 10 s after the eviction, the old pod still running")
	assert.Equal(t, 36*time.Second, created["patient"], "Failed: 10 s after the old pod failed")
	assert.Contains(t, errOut, "[+7s]     job/patient  Running            active=0 ready=0 succeeded=0 failed=0",
		"Failed: the terminating pod is neither active nor failed")
	assert.Contains(t, errOut, "[+7s]     job/eager  Running            active=0 ready=0 succeeded=0 failed=1",
		"TerminatingOrFailed: the terminating pod is a failure at once")
}

// TestScriptedJobActionsBadInput: the Job annotations jobsim reads are
// checked before anything runs.
func TestScriptedJobActionsBadInput(t *testing.T) {
	hello, err := os.ReadFile(testdata("hello-job.yaml"))
	require.NoError(t, err)
	cases := []struct {
		name       string
		annotation string
		want       string
	}{
		{name: "not a time", annotation: `sim.kjob.dev/suspend-at: "soon"`, want: `"soon" is not a time`},
		{name: "create-at takes one time", annotation: `sim.kjob.dev/create-at: "1s,2s"`, want: "takes one time"},
		{name: "unknown action", annotation: `sim.kjob.dev/duration: "5s"`, want: "unknown on a Job"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "job.yaml")
			manifest := strings.Replace(string(hello), "  name: simplejob\n", "  name: simplejob\n  annotations:\n    "+tc.annotation+"\n", 1)
			require.NoError(t, os.WriteFile(p, []byte(manifest), 0o644))
			code, _, errOut := runJobsim(t, p)
			assert.Equal(t, exitBadInput, code)
			assert.Contains(t, errOut, tc.want)
			assert.Contains(t, errOut, `Job "simplejob"`)
		})
	}
}
