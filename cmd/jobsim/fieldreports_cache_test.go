package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kjob-dev/kjob/controller"
)

// F09 (kubernetes PR #99963, PR #137210, #129795): extra pods from a stale
// cache or a controller restart. A restart here is what a process restart
// does: the controller stops, and a new one starts with nothing in memory
// and lists everything again.

// TestF09RestartAsAPodSucceeds: P1, P2 and P3 run; P1 succeeds at +10 s and
// the controller restarts at that moment, before it has counted P1. With a
// complete list the new process counts P1 and creates nothing. If its list
// misses P1 and the pod shows up on its watch 30 s later, it makes an
// extra P4 meanwhile; once it sees P1 it never keeps more than
// completions − succeeded active pods, and deletes P4 without counting it.
// If P4 has succeeded by then, all four successes count and the Job
// completes with a TooManySucceededPods warning.
func TestF09RestartAsAPodSucceeds(t *testing.T) {
	completed := "Normal Completed: " + controller.MessageCompleted
	cases := []struct {
		name string
		// lateP1 hides P1 from the new process's list; it arrives on the
		// watch 30 s later.
		lateP1 bool
		// durations of P1, P2, P3 and (if made) P4; every pod starts at
		// its creation.
		durations    string
		wantCreated  int
		wantDeleted  int
		wantCounts   counts
		wantComplete time.Duration
		wantEvents   []string
	}{
		{name: "the new process sees P1 at once", durations: "10s,30s,30s",
			wantCreated: 3, wantCounts: counts{Succeeded: 3},
			wantComplete: 31 * time.Second, wantEvents: []string{completed}},
		// P4 is made at +10 s; P1 arrives at +40 s, so the sync at +41 s
		// finds 3 active for 2 missing completions and deletes the newest.
		{name: "P1 arrives 30 s late: the extra P4 is deleted, not counted", lateP1: true, durations: "10s,60s,60s,1h",
			wantCreated: 4, wantDeleted: 1, wantCounts: counts{Succeeded: 3},
			wantComplete: 61 * time.Second, wantEvents: []string{completed}},
		// P2, P3 and P4 succeed at +39.5 s, P1 arrives at +40 s: the sync at
		// +40.5 s counts four successes.
		{name: "P1 arrives 30 s late, after P4 succeeded: TooManySucceededPods", lateP1: true,
			durations: "10s,39500ms,39500ms,29500ms", wantCreated: 4, wantCounts: counts{Succeeded: 4},
			wantComplete: 40500 * time.Millisecond,
			wantEvents:   []string{"Warning TooManySucceededPods: " + controller.MessageTooManySucceeded, completed}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScenario(t)
			job := s.create(newJob("restarted", withCompletions(3), withParallelism(3),
				withScript("start-delay", "0s", "duration", tc.durations)))
			s.runUntil("P1 Succeeded", time.Minute, func() bool { return s.podsInPhase(job, v1.PodSucceeded) == 1 })
			require.Equal(t, 10*time.Second, s.elapsed())
			require.Equal(t, int32(0), s.job(job.Name).Status.Succeeded, "the controller has not counted P1 yet")
			if tc.lateP1 {
				var p1 v1.Pod
				for _, p := range s.pods(job) {
					if p.Status.Phase == v1.PodSucceeded {
						p1 = p
					}
				}
				s.lag.Delay(func(typ watch.EventType, p *v1.Pod) bool { return typ == watch.Added && p.UID == p1.UID }, 30*time.Second)
			}
			s.restart()

			if tc.wantDeleted > 0 {
				s.runTo(45 * time.Second)
				assert.Equal(t, int32(2), s.job(job.Name).Status.Active, "completions − succeeded")
				assert.Equal(t, 2, s.podsInPhase(job, v1.PodRunning))
			}
			job = s.finished(job.Name, time.Hour)

			assert.Equal(t, completedByCompletions, conditions(job))
			assert.Equal(t, tc.wantComplete, since(*job.Status.CompletionTime))
			assert.Equal(t, tc.wantCounts, countsOf(job), "the deleted P4 is not a failure")
			assert.Equal(t, tc.wantCreated, s.created(job))
			assert.Len(t, s.events(job.UID, controller.EventSuccessfulDelete), tc.wantDeleted)
			assert.Equal(t, tc.wantEvents, s.events(job.UID, controller.EventTooManySucceededPods, controller.EventCompleted))
		})
	}
}

// TestF09LateCreationEventCreatesNoSecondPod (F09 variant): the watch
// event of a pod the controller has just created arrives 60 s late, and
// so do the pod's later events, which may not overtake it. Until then the
// expected creation is unobserved, so no sync creates another pod, not
// even one woken on purpose; the Job completes with its single pod once
// the events arrive.
func TestF09LateCreationEventCreatesNoSecondPod(t *testing.T) {
	s := newScenario(t)
	s.lag.Delay(func(typ watch.EventType, _ *v1.Pod) bool { return typ == watch.Added }, 60*time.Second)
	job := s.create(newJob("unseen", withScript("duration", "10s")))

	s.runTo(30 * time.Second)
	s.update(job.Name, func(j *batchv1.Job) { j.Labels["touched"] = "true" }) // wakes the controller
	s.runTo(59 * time.Second)
	assert.Equal(t, 1, s.created(job), "no second pod while the first creation is unobserved")
	assert.Empty(t, conditions(s.job(job.Name)))

	// The pod succeeded at +11 s; the controller learns it at +60 s.
	job = s.finished(job.Name, time.Hour)
	assert.Equal(t, completedByCompletions, conditions(job))
	assert.Equal(t, 61*time.Second, since(*job.Status.CompletionTime))
	assert.Equal(t, counts{Succeeded: 1}, countsOf(job))
	assert.Equal(t, 1, s.created(job))
}

// TestF09RestartForgetsOnlyMemory (F09, rule S1): what a restart loses is
// memory, never state. Counts live in the Job's status and carry on; the
// replacement delay (S4) lives in memory only, as upstream's does, so the
// new process replaces a failed pod at once instead of after the rest of
// the 20 s delay. The backoff limit still holds.
func TestF09RestartForgetsOnlyMemory(t *testing.T) {
	s := newScenario(t)
	job := s.create(newJob("flaky", withBackoffLimit(2), withScript("duration", "4s", "exit-codes", "1")))
	s.inv.boundCreations(job)

	// P1 +1 s → +5 s; P2 created at +15 s, +16 s → +20 s; P3 is due at +40 s.
	s.runTo(25 * time.Second)
	assert.Equal(t, counts{Failed: 2}, countsOf(s.job(job.Name)))
	assert.Equal(t, 2, s.created(job))
	s.restart()

	job = s.finished(job.Name, time.Hour)
	assert.Equal(t, failedByBackoffLimit, conditions(job))
	assert.Equal(t, counts{Failed: 3}, countsOf(job))
	assert.Equal(t, []time.Duration{10 * time.Second, 5 * time.Second}, creationGaps(s.podHistory(job)),
		"P3 comes with the new process's first sync, at +25 s")
	assert.Equal(t, 31*time.Second, since(condition(job, batchv1.JobFailed).LastTransitionTime))
}
