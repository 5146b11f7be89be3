package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/controller"
)

// Field reports about deleting Jobs: what happens to their pods, and to
// the tracking finalizer on those pods.

// TestF13DeletePropagation (F13, kubernetes#20902, #16255): a batch/v1 Job
// deleted through the API without a propagationPolicy orphans its pods
// (rule S12): they keep running, lose their owner reference to the garbage
// collector and their tracking finalizer to the controller, so they can be
// deleted later. Background deletes them after the Job; Foreground keeps
// the Job, with a deletionTimestamp, until they are gone: 25 s of shutdown
// during which the Job has no active pod and creates none.
func TestF13DeletePropagation(t *testing.T) {
	cases := []struct {
		name   string
		policy *metav1.DeletionPropagation
		// At +34 s, before the pods' shutdown ends at +35 s:
		wantJobAt34, wantPodsRunningAt34 bool
		// wantPodsLeft is how many pods run on for good, without owner.
		wantPodsLeft int
		// wantJobGone is when the Job leaves the API; 0 means with the delete.
		wantJobGone time.Duration
	}{
		{name: "no propagationPolicy: orphaned", wantPodsRunningAt34: true, wantPodsLeft: 2},
		{name: "Background: pods deleted after the Job", policy: ptr.To(metav1.DeletePropagationBackground)},
		{name: "Foreground: the Job waits for its pods", policy: ptr.To(metav1.DeletePropagationForeground),
			wantJobAt34: true, wantJobGone: 35 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScenario(t)
			job := s.create(newJob("deleted", withParallelism(2), withCompletions(2),
				withScript("duration", "1h", "sigterm-delay", "25s")))
			s.runTo(10 * time.Second)
			require.Equal(t, 2, s.podsInPhase(job, v1.PodRunning))
			s.deleteJob(job.Name, tc.policy)
			s.runTo(10 * time.Second)
			assert.Equal(t, tc.wantJobGone > 0, s.job(job.Name) != nil, "the Job outlives the delete call")

			s.runTo(34 * time.Second)
			current := s.job(job.Name)
			if assert.Equal(t, tc.wantJobAt34, current != nil, "the Job exists") && current != nil {
				assert.NotNil(t, current.DeletionTimestamp)
				// Whether the two pods count as failed depends on which event
				// the controller sees first, the Job's or the pods' deletion:
				// upstream has the same race, and no report pins it.
				assert.Equal(t, int32(0), current.Status.Active)
				assert.Equal(t, int32(2), ptr.Deref(current.Status.Terminating, 0))
			}
			for _, p := range s.pods(job) {
				assert.Equal(t, tc.wantPodsRunningAt34, p.DeletionTimestamp == nil, "%s is not being deleted", p.Name)
				assert.NotContains(t, p.Finalizers, controller.JobTrackingFinalizer, p.Name)
			}

			if tc.wantJobGone > 0 {
				s.runUntil("the Job to be gone", time.Minute, func() bool { return s.job(job.Name) == nil })
				assert.Equal(t, tc.wantJobGone, s.elapsed(), "once its last pod is gone")
			}
			s.runTo(30 * time.Minute)
			pods := s.pods(job)
			assert.Len(t, pods, tc.wantPodsLeft)
			for _, p := range pods {
				assert.Equal(t, v1.PodRunning, p.Status.Phase, p.Name)
				assert.Empty(t, p.OwnerReferences, p.Name)
				assert.Empty(t, p.Finalizers, p.Name)
			}
			assert.Equal(t, 2, s.created(job), "no pod for a Job that is being deleted")
		})
	}
}

// TestF14NoFinalizerOutlivesItsJob (F14, kubernetes#108645, #109429): P1
// succeeds at +10 s and its Job is deleted in cascade at that instant,
// before the controller has synced P1; P2 still runs. Both pods must lose
// the tracking finalizer and go, whichever way the controller learns of
// it: the Job's delete event, pod events that arrive after it, or a list
// made after a restart during which the Job was deleted.
func TestF14NoFinalizerOutlivesItsJob(t *testing.T) {
	background := ptr.To(metav1.DeletePropagationBackground)
	cases := []struct {
		name      string
		deleteJob func(s *scenario, name string)
	}{
		{name: "the controller sees the Job's delete event", deleteJob: func(s *scenario, name string) {
			s.deleteJob(name, background)
		}},
		{name: "the controller sees pod events 5 s late", deleteJob: func(s *scenario, name string) {
			s.lag.Delay(func(watch.EventType, *v1.Pod) bool { return true }, 5*time.Second)
			s.deleteJob(name, background)
		}},
		{name: "the Job is deleted while the controller is down", deleteJob: func(s *scenario, name string) {
			s.restartAround(func() { s.deleteJob(name, background) })
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScenario(t)
			job := s.create(newJob("short-lived", withParallelism(2),
				withScript("start-delay", "0s", "duration", "10s,1h")))
			s.runUntil("P1 Succeeded", time.Minute, func() bool { return s.podsInPhase(job, v1.PodSucceeded) == 1 })
			require.Equal(t, 10*time.Second, s.elapsed())
			require.Equal(t, int32(0), s.job(job.Name).Status.Succeeded, "the controller has not synced P1")

			tc.deleteJob(s, job.Name)

			s.runUntil("every pod to be gone", time.Minute, func() bool { return len(s.pods(job)) == 0 })
			assert.Equal(t, 10*time.Second, s.elapsed(), "the finalizers go at once")
			assert.Nil(t, s.job(job.Name))
		})
	}
}

// TestF14JobBeingDeletedReleasesItsPods (F14): a Job that another finalizer
// keeps in the API after its deletion is already a deleted Job. Nothing
// will count its pods any more, so the controller takes the tracking
// finalizer off every one of them, running ones included, without
// counting them, and creates none. When the Job finally goes, the garbage
// collector's deletes are not held up by the controller.
func TestF14JobBeingDeletedReleasesItsPods(t *testing.T) {
	const hold = "example.com/hold"
	s := newScenario(t)
	spec := newJob("held", withParallelism(2), withCompletions(2), withScript("duration", "1h"))
	spec.Finalizers = []string{hold}
	job := s.create(spec)
	s.runTo(10 * time.Second)
	s.deleteJob(job.Name, ptr.To(metav1.DeletePropagationBackground))

	s.runTo(11 * time.Second)
	job = s.job(job.Name)
	require.NotNil(t, job)
	require.NotNil(t, job.DeletionTimestamp)
	assert.Equal(t, int32(0), job.Status.Succeeded+job.Status.Failed, "released, not counted")
	pods := s.pods(job)
	assert.Len(t, pods, 2)
	for _, p := range pods {
		assert.Equal(t, v1.PodRunning, p.Status.Phase, p.Name)
		assert.NotContains(t, p.Finalizers, controller.JobTrackingFinalizer, p.Name)
	}

	s.update(job.Name, func(j *batchv1.Job) { j.Finalizers = nil })
	s.runUntil("every pod to be gone", time.Minute, func() bool { return len(s.pods(job)) == 0 })
	assert.Equal(t, 11*time.Second, s.elapsed())
	assert.Nil(t, s.job(job.Name))
	assert.Equal(t, 2, s.created(job))
}
