package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"

	"github.com/kjob-dev/kjob/controller"
)

// Field reports about backoffLimit and the replacement delay, played on the
// simulator. Pods start 1 s after they are created (the simulated kubelet's
// start delay); the controller syncs 1 s after the pod events that wake it
// (controller.SyncBatchPeriod), so "at once" in a report is +1 s here.

const batch = controller.SyncBatchPeriod

var failedByBackoffLimit = []string{
	"FailureTarget=True " + controller.ReasonBackoffLimitExceeded,
	"Failed=True " + controller.ReasonBackoffLimitExceeded,
}

// TestF05FailuresMixedWithSuccesses (F05, kubernetes#96630): failures add up
// over the Job's life, a success does not give them back; a success resets
// only the replacement delay. Outcomes F, S, F, S, F with backoffLimit 2
// fail the Job at the third F, with succeeded=2, failed=3 and no sixth
// pod; the pod after an F that follows an S waits 10 s, not 20 or 40.
func TestF05FailuresMixedWithSuccesses(t *testing.T) {
	s := newScenario(t)
	job := s.create(newJob("mixed", withCompletions(4), withParallelism(1), withBackoffLimit(2),
		withScript("duration", "5s", "exit-codes", "1,0,1,0,1")))

	job = s.finished(job.Name, time.Hour)

	assert.Equal(t, failedByBackoffLimit, conditions(job))
	assert.Equal(t, counts{Succeeded: 2, Failed: 3}, countsOf(job))
	pods := s.pods(job)
	require.Len(t, pods, 5, "no pod after the third failure")
	// Each F is the first failure since a success: 10 s. After each S the
	// replacement comes with the next sync.
	assert.Equal(t, []time.Duration{10 * time.Second, batch, 10 * time.Second, batch}, creationGaps(pods))
	// P5 exits at +52 s; the sync that counts it also fails the Job.
	assert.Equal(t, 53*time.Second, since(condition(job, batchv1.JobFailed).LastTransitionTime))
	assert.Equal(t, []string{"Warning BackoffLimitExceeded: " + controller.MessageBackoffLimit},
		s.events(job.UID, controller.ReasonBackoffLimitExceeded))
}

// TestF02OnFailureRestartsReachTheLimit (F02, kubernetes#54870): under
// restartPolicy OnFailure a crashing container is restarted in place and
// its pod never reaches phase Failed; the summed restartCount of running
// pods must still fail the Job once it reaches backoffLimit (≥, not >),
// the pod is deleted and counted, and no replacement follows.
func TestF02OnFailureRestartsReachTheLimit(t *testing.T) {
	s := newScenario(t)
	job := s.create(newJob("crashloop", withBackoffLimit(2), withRestartPolicy(v1.RestartPolicyOnFailure),
		withScript("duration", "1500ms", "exit-codes", "1")))
	s.inv.boundCreations(job)

	// Runs: +1 s → +2.5 s (restartCount 1), CrashLoopBackOff 10 s,
	// +12.5 s → +14 s (restartCount 2).
	restarts := func() int32 {
		pods := s.pods(job)
		if len(pods) == 0 || len(pods[0].Status.ContainerStatuses) == 0 {
			return 0
		}
		return pods[0].Status.ContainerStatuses[0].RestartCount
	}
	s.runUntil("restartCount 1", time.Minute, func() bool { return restarts() == 1 })
	assert.Equal(t, 2500*time.Millisecond, s.elapsed())
	s.runUntil("restartCount 2", time.Minute, func() bool { return restarts() == 2 })
	assert.Equal(t, 14*time.Second, s.elapsed())
	assert.Empty(t, conditions(s.job(job.Name)), "1 < 2 was no reason to fail")

	// The next sync is the one its own status write at +13.5 s queued.
	s.runUntil("FailureTarget", time.Minute, func() bool { return hasTrue(s.job(job.Name), batchv1.JobFailureTarget) })
	assert.Equal(t, 14500*time.Millisecond, s.elapsed())
	assert.Equal(t, counts{Terminating: 1, Failed: 1}, countsOf(s.job(job.Name)),
		"the pod still running is deleted and counted in the same sync")

	job = s.finished(job.Name, time.Minute)
	assert.Equal(t, failedByBackoffLimit, conditions(job))
	assert.Equal(t, counts{Failed: 1}, countsOf(job))
	assert.Equal(t, 15500*time.Millisecond, since(condition(job, batchv1.JobFailed).LastTransitionTime), "once the pod is gone")
	s.runTo(time.Hour)
	assert.Equal(t, 1, s.created(job), "no replacement, no endless crash loop")
	assert.Empty(t, s.pods(job))
}

// TestF03AttemptsOnFailureVsNever (F03, kubernetes#95433; decision D2 in
// docs/decisions.md): with backoffLimit 1 a Never Job runs twice, an
// OnFailure Job once, because its first in-place restart already reaches
// the limit. Either way the failed Job reports failed > 0: the OnFailure
// pod, still active when the Job fails, is deleted and counted as failed.
func TestF03AttemptsOnFailureVsNever(t *testing.T) {
	cases := []struct {
		name   string
		policy v1.RestartPolicy
		// wantGaps between pods; wantRestarts of the last pod's container.
		wantGaps     []time.Duration
		wantRestarts int32
		wantFailed   int32
		// wantTarget and wantFailedAt are the times of FailureTarget and Failed.
		wantTarget, wantFailedAt time.Duration
	}{
		// P1 +1 s → +6 s; P2 created at +16 s, runs +17 s → +22 s; the
		// sync at +23 s counts failed=2 > 1 with nothing left running.
		{name: "Never: two pods, two runs", policy: v1.RestartPolicyNever,
			wantGaps: []time.Duration{10 * time.Second}, wantFailed: 2,
			wantTarget: 23 * time.Second, wantFailedAt: 23 * time.Second},
		// P1 +1 s → +6 s, restartCount 1 ≥ 1 at the sync at +7 s; the pod
		// is deleted there and gone before the sync at +8 s.
		{name: "OnFailure: one pod, one run", policy: v1.RestartPolicyOnFailure,
			wantRestarts: 1, wantFailed: 1,
			wantTarget: 7 * time.Second, wantFailedAt: 8 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScenario(t)
			job := s.create(newJob("attempts", withBackoffLimit(1), withRestartPolicy(tc.policy),
				withScript("duration", "5s", "exit-codes", "1")))
			s.inv.boundCreations(job)

			job = s.finished(job.Name, time.Hour)

			assert.Equal(t, failedByBackoffLimit, conditions(job))
			assert.Equal(t, counts{Failed: tc.wantFailed}, countsOf(job))
			assert.Equal(t, tc.wantTarget, since(condition(job, batchv1.JobFailureTarget).LastTransitionTime))
			assert.Equal(t, tc.wantFailedAt, since(condition(job, batchv1.JobFailed).LastTransitionTime))
			pods := s.podHistory(job)
			assert.Equal(t, tc.wantGaps, creationGaps(pods))
			last := &pods[len(pods)-1]
			assert.Equal(t, tc.wantRestarts, last.Status.ContainerStatuses[0].RestartCount)
			assert.Equal(t, int32(1), lastRun(last).ExitCode, "the last run failed on its own, it was not killed")
		})
	}
}

// TestF04ManyPodsFailAtOnce (F04, kubernetes#70251, #60735, #56853): the
// limit counts failed pods, not how often the Job was synced. A wave of
// parallel failures counts once per pod, the next wave waits out the delay
// for that many failures, and the pod that crosses the limit fails the Job
// at once: the pods still running are deleted and counted as failed.
// Never more than backoffLimit + parallelism pods.
func TestF04ManyPodsFailAtOnce(t *testing.T) {
	cases := []struct {
		name                     string
		parallelism, limit       int32
		durations                string
		wantPods                 int
		wantWaveGap              time.Duration
		wantTargetCounts         counts
		wantTarget, wantFailedAt time.Duration
	}{
		// Wave 1 exits at +5 s: failed=10, not > 10. Ten failures since the
		// last success make the delay the cap, so wave 2 comes at +605 s.
		// Only its first pod fails (+610 s); the other nine are deleted and
		// counted with it at +611 s, and are gone by +612 s.
		{name: "kubernetes#70251: parallelism 10, backoffLimit 10", parallelism: 10, limit: 10,
			durations: strings.Repeat("4s,", 11) + "1h", wantPods: 20,
			wantWaveGap:      controller.PodFailureBackoffMax,
			wantTargetCounts: counts{Terminating: 9, Failed: 20},
			wantTarget:       5*time.Second + controller.PodFailureBackoffMax + 6*time.Second,
			wantFailedAt:     5*time.Second + controller.PodFailureBackoffMax + 7*time.Second},
		// Two failures: 20 s; the second wave's two failures make 4 > 3.
		{name: "kubernetes#60735: parallelism 2, backoffLimit 3", parallelism: 2, limit: 3,
			durations: "4s", wantPods: 4, wantWaveGap: 20 * time.Second,
			wantTargetCounts: counts{Failed: 4},
			wantTarget:       31 * time.Second, wantFailedAt: 31 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScenario(t)
			job := s.create(newJob("waves", withParallelism(tc.parallelism), withBackoffLimit(tc.limit),
				withScript("duration", tc.durations, "exit-codes", "1")))
			s.inv.boundCreations(job)

			s.runTo(tc.wantWaveGap / 2)
			assert.Equal(t, counts{Failed: tc.parallelism}, countsOf(s.job(job.Name)), "the first wave is counted once per pod")
			assert.Empty(t, conditions(s.job(job.Name)))

			s.runUntil("FailureTarget", time.Hour, func() bool { return hasTrue(s.job(job.Name), batchv1.JobFailureTarget) })
			assert.Equal(t, tc.wantTarget, s.elapsed())
			assert.Equal(t, tc.wantTargetCounts, countsOf(s.job(job.Name)))
			job = s.finished(job.Name, time.Minute)

			assert.Equal(t, failedByBackoffLimit, conditions(job))
			assert.Equal(t, tc.wantFailedAt, since(condition(job, batchv1.JobFailed).LastTransitionTime))
			assert.Equal(t, counts{Failed: int32(tc.wantPods)}, countsOf(job))
			assert.Equal(t, tc.wantPods, s.created(job))
			pods := s.podHistory(job)
			require.Len(t, pods, tc.wantPods)
			wave2 := pods[tc.parallelism]
			assert.Equal(t, tc.wantWaveGap, wave2.CreationTimestamp.Sub(lastExit(&pods[0])))
		})
	}
}

// TestF10ExponentialReplacementDelay (F10, kubernetes PR #114516): one
// failing pod after another are replaced after 10, 20, 40 … s, up to the
// cap (decision D1: 10 min in 1.37, where the report's older code says
// 6 min). Failed comes with the sync that sees failed > backoffLimit, not
// one delay later, and no pod follows it.
func TestF10ExponentialReplacementDelay(t *testing.T) {
	s := newScenario(t)
	job := s.create(newJob("exponential", withCompletions(25), withParallelism(1), withBackoffLimit(25),
		// Each pod starts 0.5 s after its creation and fails 2.5 s later, on
		// a whole second, where no sync of the controller falls.
		withScript("start-delay", "500ms", "duration", "2500ms", "exit-codes", "1")))
	s.inv.boundCreations(job)

	job = s.finished(job.Name, 6*time.Hour)

	assert.Equal(t, failedByBackoffLimit, conditions(job))
	assert.Equal(t, counts{Failed: 26}, countsOf(job))
	pods := s.pods(job)
	require.Len(t, pods, 26)
	var want []time.Duration
	for i := range 25 {
		want = append(want, min(controller.PodFailureBackoffBase<<i, controller.PodFailureBackoffMax))
	}
	assert.Equal(t, want, creationGaps(pods))
	assert.Equal(t, lastExit(&pods[25]).Add(batch), condition(job, batchv1.JobFailed).LastTransitionTime.Time,
		"Failed with the first sync after the 26th failure")

	s.runTo(s.elapsed() + 2*controller.PodFailureBackoffMax)
	assert.Len(t, s.pods(job), 26, "nothing is created once the Job has failed")
}
