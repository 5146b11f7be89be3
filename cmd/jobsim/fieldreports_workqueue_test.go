package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/controller"
)

// Field reports about work-queue Jobs: parallelism set, completions unset.

var completedByCompletions = []string{
	"SuccessCriteriaMet=True " + controller.ReasonCompletionsReached,
	"Complete=True " + controller.ReasonCompletionsReached,
}

// TestF01FailingWorkQueueJobIsBounded (F01 scenario A, kubernetes#27997): a
// work-queue Job whose pods all fail once created ~84 000 pods. With
// backoffLimit 6 the first sync that sees more than 6 failures fails the
// Job, and the 100 pods of the first slow-start round are all it ever gets
// (bound: backoffLimit + parallelism = 106).
func TestF01FailingWorkQueueJobIsBounded(t *testing.T) {
	s := newScenario(t)
	job := s.create(newJob("crashers", withParallelism(100), withBackoffLimit(6),
		withScript("duration", "500ms", "exit-codes", "1")))
	s.inv.boundCreations(job)

	// Every pod runs +1 s → +1.5 s; the next sync, at +2 s, sees 100 > 6.
	job = s.finished(job.Name, time.Hour)

	assert.Equal(t, failedByBackoffLimit, conditions(job))
	assert.Equal(t, 2*time.Second, since(condition(job, batchv1.JobFailureTarget).LastTransitionTime))
	assert.Equal(t, 2*time.Second, since(condition(job, batchv1.JobFailed).LastTransitionTime))
	assert.Equal(t, counts{Failed: 100}, countsOf(job), "failed is the number of pods created")
	s.runTo(time.Hour)
	assert.Equal(t, 100, s.created(job), "no pod after the Job failed")
}

// TestF01PauseWithParallelismZero (F01 scenario B): parallelism 0 pauses a
// Job. The running pods are surplus: they lose their finalizer before they
// are deleted, so they count neither as failed nor as succeeded, and the
// Job gets no condition. Raising parallelism again starts new pods at once,
// with no replacement delay, since nothing failed.
func TestF01PauseWithParallelismZero(t *testing.T) {
	s := newScenario(t)
	job := s.create(newJob("paused", withParallelism(100), withBackoffLimit(6), withScript("duration", "1h")))

	s.runTo(30 * time.Second)
	assert.Equal(t, counts{Active: 100, Ready: 100}, countsOf(s.job(job.Name)))
	s.update(job.Name, func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To[int32](0) })

	// The spec change is synced at once; the pods stop within the same
	// second and the sync at +31 s sees none left.
	s.runTo(31 * time.Second)
	job = s.job(job.Name)
	assert.Empty(t, s.pods(job), "all 100 pods are gone")
	assert.Equal(t, counts{}, countsOf(job), "failed stays 0: surplus pods are not failures")
	assert.Empty(t, conditions(job))
	assert.Len(t, s.events(job.UID, controller.EventSuccessfulDelete), 100)

	s.runTo(60 * time.Second)
	s.update(job.Name, func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To[int32](100) })
	s.runTo(62 * time.Second)
	job = s.job(job.Name)
	assert.Equal(t, counts{Active: 100, Ready: 100}, countsOf(job))
	assert.Equal(t, 100, s.podsInPhase(job, v1.PodRunning))
	assert.Equal(t, 200, s.created(job))
	assert.Empty(t, conditions(job))
}

// TestF15WorkQueueCompletion (F15, kubernetes#43456): in work-queue mode no
// pod is created after the first success, not even a replacement for a
// later failure; the Job completes once a pod succeeded and none is
// active. The backoffLimit check comes first, so with backoffLimit 0 the
// same failure fails the Job instead, also when the last pod succeeds in
// the same sync.
func TestF15WorkQueueCompletion(t *testing.T) {
	cases := []struct {
		name                  string
		limit                 int32
		durations             string
		wantConditions        []string
		wantCounts            counts
		wantInterim, wantDone time.Duration
	}{
		// P1 succeeds at +10 s, P2 fails at +15 s, P3 succeeds at +20 s.
		{name: "backoffLimit 6: Complete", limit: 6, durations: "10s,15s,20s",
			wantConditions: completedByCompletions, wantCounts: counts{Succeeded: 2, Failed: 1},
			wantInterim: 21 * time.Second, wantDone: 21 * time.Second},
		// P2's failure is seen at +16 s: P3, still running, is deleted and
		// counted as failed; Failed once it is gone.
		{name: "backoffLimit 0: Failed, the running pod counted as failed", limit: 0, durations: "10s,15s,20s",
			wantConditions: failedByBackoffLimit, wantCounts: counts{Succeeded: 1, Failed: 2},
			wantInterim: 16 * time.Second, wantDone: 17 * time.Second},
		// P3 succeeds at +15.5 s: one sync sees succeeded=2 with nothing
		// active, and failed=1 > 0. The limit wins.
		{name: "backoffLimit 0: Failed, although completion holds in the same sync", limit: 0, durations: "10s,15s,15500ms",
			wantConditions: failedByBackoffLimit, wantCounts: counts{Succeeded: 2, Failed: 1},
			wantInterim: 16 * time.Second, wantDone: 16 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScenario(t)
			job := s.create(newJob("workers", withParallelism(3), withBackoffLimit(tc.limit),
				withScript("start-delay", "0s", "duration", tc.durations, "exit-codes", "0,1,0")))

			job = s.finished(job.Name, time.Hour)

			assert.Equal(t, tc.wantConditions, conditions(job))
			assert.Equal(t, tc.wantCounts, countsOf(job))
			assert.Equal(t, tc.wantInterim, since(job.Status.Conditions[0].LastTransitionTime))
			assert.Equal(t, tc.wantDone, since(job.Status.Conditions[1].LastTransitionTime))
			s.runTo(time.Hour)
			assert.Equal(t, 3, s.created(job), "no pod after the first success, not even for the failure")
		})
	}
}

// TestF15ParallelismAboveCompletions (F15, rule S7): active pods never
// exceed min(parallelism, completions − succeeded).
func TestF15ParallelismAboveCompletions(t *testing.T) {
	s := newScenario(t)
	job := s.create(newJob("capped", withParallelism(5), withCompletions(2), withScript("duration", "5s")))

	s.runTo(3 * time.Second)
	assert.Equal(t, counts{Active: 2, Ready: 2}, countsOf(s.job(job.Name)))
	job = s.finished(job.Name, time.Hour)
	assert.Equal(t, completedByCompletions, conditions(job))
	assert.Equal(t, counts{Succeeded: 2}, countsOf(job))
	assert.Equal(t, 2, s.created(job))
}
