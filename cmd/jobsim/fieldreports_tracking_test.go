package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/controller"
	"github.com/kjob-dev/kjob/sim"
)

// Field reports about counting finished pods and about terminal
// conditions while pods are still going away.

// TestF06TerminalConditionWaitsForTerminatingPods (F06, kubernetes#123775,
// #125089): FailureTarget comes with the sync that decides the failure,
// which also deletes the pod still running, counts it as failed and shows
// it as terminating, not ready, in the same status write. Failed waits
// until that pod is gone, 30 s later.
func TestF06TerminalConditionWaitsForTerminatingPods(t *testing.T) {
	s := newScenario(t)
	job := s.create(newJob("shutdown", withCompletions(2), withParallelism(2), withBackoffLimit(0),
		withReplacementPolicy(batchv1.Failed), withGrace(60),
		withScript("start-delay", "0s", "duration", "5s,1h", "exit-codes", "1,0", "sigterm-delay", "30s")))

	s.runTo(4 * time.Second)
	assert.Equal(t, counts{Active: 2, Ready: 2}, countsOf(s.job(job.Name)))

	// P1 fails at +5 s; the sync at +6 s decides.
	s.runUntil("FailureTarget", time.Minute, func() bool { return hasTrue(s.job(job.Name), batchv1.JobFailureTarget) })
	assert.Equal(t, 6*time.Second, s.elapsed())
	job = s.job(job.Name)
	assert.Equal(t, []string{"FailureTarget=True " + controller.ReasonBackoffLimitExceeded}, conditions(job))
	assert.Equal(t, counts{Terminating: 1, Failed: 2}, countsOf(job), "P2 is terminating, no longer ready, and already counted")

	s.runTo(35 * time.Second)
	job = s.job(job.Name)
	assert.Equal(t, []string{"FailureTarget=True " + controller.ReasonBackoffLimitExceeded}, conditions(job), "no Failed while P2 shuts down")
	assert.Equal(t, counts{Terminating: 1, Failed: 2}, countsOf(job))

	// P2 exits 30 s after its SIGTERM, at +36 s; the next sync adds Failed.
	job = s.finished(job.Name, time.Minute)
	assert.Equal(t, failedByBackoffLimit, conditions(job))
	assert.Equal(t, 37*time.Second, since(condition(job, batchv1.JobFailed).LastTransitionTime))
	assert.Equal(t, counts{Failed: 2}, countsOf(job))
	assert.Equal(t, []string{"Warning BackoffLimitExceeded: " + controller.MessageBackoffLimit},
		s.events(job.UID, controller.ReasonBackoffLimitExceeded))
}

// TestF07SucceededSurvivesPodDeletion (F07, kubernetes#81227, #78721,
// #91235, #96363): a success is counted from the recorded transition, not
// from the pods that still exist. Removing P1 and P2 once they succeeded,
// whether or not the controller has counted P2 yet, never lowers
// succeeded, never turns a success into a failure, and never makes the Job
// run the work again.
func TestF07SucceededSurvivesPodDeletion(t *testing.T) {
	evict := func(s *scenario, name string) error {
		return s.sim.client.CoreV1().Pods(metav1.NamespaceDefault).EvictV1(s.ctx, &policyv1.Eviction{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceDefault}})
	}
	remove := func(s *scenario, name string) error {
		return s.sim.client.CoreV1().Pods(metav1.NamespaceDefault).Delete(s.ctx, name, metav1.DeleteOptions{})
	}
	cases := []struct {
		name string
		// counted: wait until the controller has counted P2, or act as soon
		// as the kubelet reports it, a second before the controller looks.
		counted bool
		remove  func(*scenario, string) error
	}{
		{name: "deleted after they were counted", counted: true, remove: remove},
		{name: "deleted before the controller counted P2", remove: remove},
		{name: "evicted before the controller counted P2", remove: evict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScenario(t)
			// P1 +1 s → +6 s, P2 created at +7 s, +8 s → +13 s, P3 from +14 s
			// runs 30 s.
			job := s.create(newJob("survivor", withCompletions(3), withParallelism(1),
				withScript("duration", "5s,5s,30s")))
			if tc.counted {
				s.runUntil("succeeded=2", time.Minute, func() bool { return s.job(job.Name).Status.Succeeded == 2 })
				assert.Equal(t, 14*time.Second, s.elapsed())
			} else {
				s.runUntil("P1 and P2 Succeeded", time.Minute, func() bool { return s.podsInPhase(job, v1.PodSucceeded) == 2 })
				assert.Equal(t, 13*time.Second, s.elapsed())
				assert.Equal(t, int32(1), s.job(job.Name).Status.Succeeded)
			}
			for _, p := range s.pods(job) {
				if p.Status.Phase == v1.PodSucceeded {
					require.NoError(t, tc.remove(s, p.Name))
				}
			}

			job = s.finished(job.Name, time.Hour)

			assert.Equal(t, completedByCompletions, conditions(job))
			assert.Equal(t, 46*time.Second, since(*job.Status.CompletionTime))
			assert.Equal(t, counts{Succeeded: 3}, countsOf(job))
			assert.Equal(t, 3, s.created(job), "the work of P1 and P2 is not done again")
			assert.Len(t, s.pods(job), 1, "only P3 is left")
		})
	}
}

// TestF08NeverCompleteWhileAPodLooksActive (F08, kubernetes#64037, #98741):
// an extra pod P2 appears beside P1 (as a controller with a stale cache
// would make it) and is deleted as surplus; the watch events of its
// deletion reach the controller 30 s late. P1 succeeds meanwhile, yet the
// Job gets neither SuccessCriteriaMet nor Complete while the controller
// still counts P2 as active: only once it has seen P2 go, and then with
// active=0.
func TestF08NeverCompleteWhileAPodLooksActive(t *testing.T) {
	s := newScenario(t)
	job := s.create(newJob("single", withCompletions(1), withParallelism(1), withScript("duration", "20s,1h")))
	s.runTo(5 * time.Second)
	p1 := s.pods(job)[0]
	extra := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: job.Name + "-", Namespace: job.Namespace,
			Labels: p1.Labels, Annotations: p1.Annotations, OwnerReferences: p1.OwnerReferences,
			Finalizers: []string{controller.JobTrackingFinalizer},
		},
		Spec: *p1.Spec.DeepCopy(),
	}
	extra.Spec.NodeName = ""
	extra.Annotations = map[string]string{}
	for k, v := range p1.Annotations {
		extra.Annotations[k] = v
	}
	extra.Annotations[sim.AnnotationPrefix+"start-delay"] = "0s"
	p2, err := s.sim.client.CoreV1().Pods(job.Namespace).Create(s.ctx, extra, metav1.CreateOptions{})
	require.NoError(t, err)
	s.lag.Delay(func(_ watch.EventType, p *v1.Pod) bool {
		return p.Name == p2.Name && (p.DeletionTimestamp != nil || len(p.Finalizers) == 0)
	}, 30*time.Second)

	// +6 s: P2 is deleted as surplus and is gone at once; the controller
	// sees that only at +36 s. P1 succeeds at +21 s.
	s.runTo(30 * time.Second)
	job = s.job(job.Name)
	assert.Nil(t, s.pod(p2.Name), "P2 is gone")
	assert.Equal(t, int32(1), job.Status.Succeeded)
	assert.Equal(t, int32(1), job.Status.Active, "the controller still believes in P2")
	assert.Empty(t, conditions(job), "no completion while a pod looks active")

	job = s.finished(job.Name, time.Minute)
	assert.Equal(t, completedByCompletions, conditions(job))
	assert.Equal(t, 37*time.Second, since(condition(job, batchv1.JobSuccessCriteriaMet).LastTransitionTime))
	assert.Equal(t, counts{Succeeded: 1}, countsOf(job))
	require.NotNil(t, job.Status.CompletionTime)
	assert.Equal(t, condition(job, batchv1.JobComplete).LastTransitionTime, *job.Status.CompletionTime)
	assert.Equal(t, []string{"Normal SuccessfulDelete: Deleted pod: " + p2.Name}, s.events(job.UID, controller.EventSuccessfulDelete))
	assert.Equal(t, 1, s.created(job))
}

// TestF11DisruptionWithoutFailurePolicy (F11 (a), kelos-dev/kelos#1348):
// without a pod failure policy, a running pod that is deleted, as a node
// drain or an eviction does, counts as failed as soon as it has a
// deletionTimestamp (rule S2). With backoffLimit 0 that fails the Job; no
// replacement is made, and Failed waits until the pod has stopped.
func TestF11DisruptionWithoutFailurePolicy(t *testing.T) {
	grace := ptr.To[int64](30)
	cases := []struct {
		name       string
		disrupt    func(s *scenario, pod string) error
		wantTarget []v1.PodConditionType
	}{
		{name: "delete with a 30 s grace period", disrupt: func(s *scenario, pod string) error {
			return s.sim.client.CoreV1().Pods(metav1.NamespaceDefault).Delete(s.ctx, pod, metav1.DeleteOptions{GracePeriodSeconds: grace})
		}},
		{name: "eviction with a 30 s grace period", disrupt: func(s *scenario, pod string) error {
			return s.sim.client.CoreV1().Pods(metav1.NamespaceDefault).EvictV1(s.ctx, &policyv1.Eviction{
				ObjectMeta:    metav1.ObjectMeta{Name: pod, Namespace: metav1.NamespaceDefault},
				DeleteOptions: &metav1.DeleteOptions{GracePeriodSeconds: grace}})
		}, wantTarget: []v1.PodConditionType{v1.DisruptionTarget}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScenario(t)
			job := s.create(newJob("disrupted", withBackoffLimit(0), withScript("duration", "1h", "sigterm-delay", "20s")))
			s.runTo(10 * time.Second)
			pod := s.pods(job)[0]
			require.NoError(t, tc.disrupt(s, pod.Name))

			s.runUntil("FailureTarget", time.Minute, func() bool { return hasTrue(s.job(job.Name), batchv1.JobFailureTarget) })
			assert.Equal(t, 11*time.Second, s.elapsed())
			assert.Equal(t, counts{Terminating: 1, Failed: 1}, countsOf(s.job(job.Name)))

			// The pod stops 20 s after its SIGTERM, at +30 s.
			job = s.finished(job.Name, time.Minute)
			assert.Equal(t, failedByBackoffLimit, conditions(job))
			assert.Equal(t, 31*time.Second, since(condition(job, batchv1.JobFailed).LastTransitionTime))
			assert.Equal(t, counts{Failed: 1}, countsOf(job))
			s.runTo(time.Hour)
			assert.Equal(t, 1, s.created(job), "no replacement")
			last := s.podHistory(job)[0]
			for _, c := range tc.wantTarget {
				assert.NotNil(t, podCondition(&last, c), "the pod carries %s", c)
			}
		})
	}
}

func podCondition(p *v1.Pod, t v1.PodConditionType) *v1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}
