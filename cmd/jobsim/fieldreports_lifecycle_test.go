package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/controller"
)

// Field reports of the Job lifecycle features, played on the scenario
// harness (invariants checked after every step): F11 (b) and (c), pod
// failure policies against evictions; F16, the deadline of a Job created
// again under the same name; F17, suspend and resume with a deadline.

func withFailurePolicy(rules ...batchv1.PodFailurePolicyRule) jobOption {
	return func(j *batchv1.Job) { j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: rules} }
}

func withDeadline(seconds int64) jobOption {
	return func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = &seconds }
}

// disruptionRule matches pods the Eviction API marked DisruptionTarget.
func disruptionRule(action batchv1.PodFailurePolicyAction) batchv1.PodFailurePolicyRule {
	return batchv1.PodFailurePolicyRule{Action: action,
		OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: v1.DisruptionTarget}}}
}

// anyExitCodeFailsJob is the F11 rule "onExitCodes NotIn [0] → FailJob".
var anyExitCodeFailsJob = batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionFailJob,
	OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpNotIn, Values: []int32{0}}}

// TestF11DisruptionCountedByPolicy (F11 (b)): with DisruptionTarget → Count
// before NotIn [0] → FailJob, every evicted pod (exit code 143) matches the
// first rule and counts. The second eviction exceeds backoffLimit 1: the
// reason is BackoffLimitExceeded, not PodFailurePolicy.
func TestF11DisruptionCountedByPolicy(t *testing.T) {
	s := newScenario(t)
	job := s.create(newJob("drained", withBackoffLimit(1),
		withFailurePolicy(disruptionRule(batchv1.PodFailurePolicyActionCount), anyExitCodeFailsJob),
		withScript("duration", "1h", "evict-after", "10s")))
	assert.Equal(t, ptr.To(batchv1.Failed), job.Spec.PodReplacementPolicy, "defaulted with a policy")

	// P1 starts at +1s and is evicted at +11s; its replacement waits 10 s
	// from that, starts at +22s and is evicted at +32s.
	job = s.finished(job.Name, time.Hour)
	assert.Equal(t, failedByBackoffLimit, conditions(job))
	assert.Equal(t, 33*time.Second, since(condition(job, batchv1.JobFailed).LastTransitionTime))
	assert.Equal(t, counts{Failed: 2}, countsOf(job))
	assert.Equal(t, 2, s.created(job), "P1 and P2")
	for _, p := range s.podHistory(job) {
		assert.NotNil(t, podCondition(&p, v1.DisruptionTarget), "%s was evicted", p.Name)
		assert.Equal(t, int32(143), lastRun(&p).ExitCode, "%s ended on SIGTERM", p.Name)
	}
	assert.Equal(t, []string{"Warning BackoffLimitExceeded: Job has reached the specified backoff limit"},
		s.events(job.UID, controller.ReasonBackoffLimitExceeded, controller.ReasonPodFailurePolicy))
}

// TestF11DisruptionIgnoredByPolicy (F11 (c)): with DisruptionTarget →
// Ignore first, evictions count toward nothing: failed stays 0 and each
// evicted pod is replaced after the replacement delay, which ignored
// failures still lengthen (10 s, then 20 s).
func TestF11DisruptionIgnoredByPolicy(t *testing.T) {
	s := newScenario(t)
	job := s.create(newJob("drained", withBackoffLimit(1),
		withFailurePolicy(disruptionRule(batchv1.PodFailurePolicyActionIgnore), anyExitCodeFailsJob),
		withScript("duration", "30s", "evict-after", "10s,10s,never")))

	s.runTo(40 * time.Second)
	mid := s.job(job.Name)
	assert.Equal(t, int32(0), mid.Status.Failed, "two evictions so far, none counted")
	assert.Empty(t, conditions(mid), "still running")

	job = s.finished(job.Name, time.Hour)
	assert.Equal(t, []string{"SuccessCriteriaMet=True CompletionsReached", "Complete=True CompletionsReached"}, conditions(job))
	assert.Equal(t, counts{Succeeded: 1}, countsOf(job))
	pods := s.podHistory(job)
	require.Len(t, pods, 3)
	assert.Equal(t, []time.Duration{10 * time.Second, 20 * time.Second}, creationGaps(pods))
}

// TestF16RecreatedJobDeadline (kubernetes/kubernetes#90550): a Job with a
// 40 s deadline, deleted in cascade at +20s and created again under the
// same name at +25s, fails at its own startTime + 40 s = +65s. The first
// Job's deadline timer still fires at +40s and must not fail it.
func TestF16RecreatedJobDeadline(t *testing.T) {
	s := newScenario(t)
	spec := newJob("x", withDeadline(40), withScript("duration", "120s"))
	first := s.create(spec.DeepCopy())
	s.runTo(20 * time.Second)
	s.deleteJob("x", ptr.To(metav1.DeletePropagationBackground))
	s.runTo(25 * time.Second)
	second := s.create(spec.DeepCopy())
	require.NotEqual(t, first.UID, second.UID)

	s.runTo(64 * time.Second)
	assert.Empty(t, conditions(s.job("x")), "not failed by the first Job's timer at +40s")
	job := s.finished("x", time.Hour)
	require.Equal(t, second.UID, job.UID)
	assert.Equal(t, 25*time.Second, since(*job.Status.StartTime))
	target := condition(job, batchv1.JobFailureTarget)
	require.NotNil(t, target)
	assert.Equal(t, controller.ReasonDeadlineExceeded, target.Reason)
	assert.Equal(t, 65*time.Second, since(target.LastTransitionTime), "its own startTime + 40 s")
	assert.Equal(t, counts{Failed: 1}, countsOf(job))
	assert.Equal(t, 1, s.created(job), "its own pod only")
}

// TestF17SuspendResumeDeadline (kubernetes/kubernetes#134521): two pods of
// 100 s, a 60 s deadline; suspended at +30s, resumed at +200s. Suspending
// deletes the pods without counting them and clears startTime; no deadline
// runs while suspended; the resume sets startTime to +200s and the deadline
// fails the Job at +260s. Every status write passes the API's rules.
func TestF17SuspendResumeDeadline(t *testing.T) {
	s := newScenario(t)
	job := s.create(newJob("f17", withCompletions(2), withParallelism(2), withDeadline(60),
		withScript("duration", "100s")))
	s.runTo(30 * time.Second)
	s.update(job.Name, func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) })
	s.runUntil("Suspended", time.Minute, func() bool { return hasTrue(s.job(job.Name), batchv1.JobSuspended) })
	assert.Equal(t, 30*time.Second, s.elapsed(), "a spec change is synced at once")
	suspended := s.job(job.Name)
	assert.Nil(t, suspended.Status.StartTime, "startTime cleared")
	assert.Equal(t, counts{Terminating: 2}, countsOf(suspended), "the pods are stopping, not failing")

	s.runTo(200 * time.Second)
	paused := s.job(job.Name)
	assert.Equal(t, counts{}, countsOf(paused), "no pod, nothing counted")
	assert.Equal(t, []string{"Suspended=True JobSuspended"}, conditions(paused), "no deadline while suspended")

	s.update(job.Name, func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(false) })
	job = s.finished(job.Name, time.Hour)
	assert.Equal(t, 200*time.Second, since(*job.Status.StartTime), "startTime reset by the resume")
	assert.Equal(t, []string{"Suspended=False JobResumed", "FailureTarget=True DeadlineExceeded", "Failed=True DeadlineExceeded"},
		conditions(job))
	assert.Equal(t, 260*time.Second, since(condition(job, batchv1.JobFailureTarget).LastTransitionTime))
	assert.Equal(t, counts{Failed: 2}, countsOf(job), "only the pods the deadline stopped")
	assert.Equal(t, 4, s.created(job))
	assert.Equal(t, []string{"Normal Suspended: Job suspended", "Normal Resumed: Job resumed"},
		s.events(job.UID, controller.EventSuspended, controller.EventResumed))
}
