package sim

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestGracefulDeletion(t *testing.T) {
	const running = "Running ready=True main=running restarts=0"
	cases := []struct {
		name        string
		policy      corev1.RestartPolicy
		annotations map[string]string
		// before is how long the pod runs before it is deleted.
		before []time.Duration
		grace  int64
		// checkpoints follow the deletion; the final delete must come
		// exactly with the last one.
		checkpoints []klCheckpoint
	}{
		{
			name:        "a running container exits on SIGTERM",
			policy:      corev1.RestartPolicyNever,
			annotations: klScript("duration", "1h"),
			before:      []time.Duration{time.Second},
			grace:       30,
			checkpoints: []klCheckpoint{{0, "Failed ready=False main=terminated(143 Error) restarts=0"}},
		},
		{
			name:        "a slow SIGTERM within the grace period",
			policy:      corev1.RestartPolicyNever,
			annotations: klScript("duration", "1h", "sigterm-delay", "10s"),
			before:      []time.Duration{time.Second},
			grace:       30,
			checkpoints: []klCheckpoint{{0, running}, {9 * time.Second, running},
				{time.Second, "Failed ready=False main=terminated(143 Error) restarts=0"}},
		},
		{
			name:        "a container still running when the grace period ends is killed",
			policy:      corev1.RestartPolicyOnFailure,
			annotations: klScript("duration", "1h", "sigterm-delay", "1m"),
			before:      []time.Duration{time.Second},
			grace:       30,
			checkpoints: []klCheckpoint{{0, running}, {29 * time.Second, running},
				{time.Second, "Failed ready=False main=terminated(137 Error) restarts=0"}},
		},
		{
			name:        "grace period 0 kills at once",
			policy:      corev1.RestartPolicyNever,
			annotations: klScript("duration", "1h", "sigterm-delay", "5s"),
			before:      []time.Duration{time.Second},
			grace:       0,
			checkpoints: []klCheckpoint{{0, "Failed ready=False main=terminated(137 Error) restarts=0"}},
		},
		{
			name:        "a pending pod never starts",
			policy:      corev1.RestartPolicyNever,
			annotations: klScript("duration", "5s"),
			grace:       30,
			checkpoints: []klCheckpoint{{0, "Failed ready=False main=terminated(137 ContainerStatusUnknown) restarts=0"}},
		},
		{
			name:        "a succeeded pod stays succeeded",
			policy:      corev1.RestartPolicyNever,
			annotations: klScript("duration", "1s"),
			before:      []time.Duration{time.Second, time.Second},
			grace:       30,
			checkpoints: []klCheckpoint{{0, "Succeeded ready=False main=terminated(0 Completed) restarts=0"}},
		},
		{
			name:        "a crash-looping container reports its last run and is not restarted",
			policy:      corev1.RestartPolicyOnFailure,
			annotations: klScript("duration", "1s", "exit-codes", "1"),
			before:      []time.Duration{time.Second, time.Second},
			grace:       30,
			checkpoints: []klCheckpoint{{0, "Failed ready=False main=terminated(1 Error) restarts=1"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newKlHarness(t, KubeletOptions{}, true)
			h.createAndAccept(klPod("p", tc.policy, tc.annotations))
			for _, d := range tc.before {
				h.step(d)
			}
			deletedAt := h.clock.Now()
			h.markDeleted("p", tc.grace)
			h.waitTracked("p", "seen terminating", func(sp *simPod) bool { return sp.terminating })
			elapsed := time.Duration(0)
			for i, cp := range tc.checkpoints {
				last := i == len(tc.checkpoints)-1
				h.step(cp.advance)
				elapsed += cp.advance
				if last {
					h.waitFor("p", "finally deleted", func(*corev1.Pod) bool { return len(h.deletes("p")) > 0 })
				}
				pod := h.get("p")
				assert.Equal(t, cp.want, klSummary(pod), "checkpoint %d", i)
				if !last {
					assert.Empty(t, h.deletes("p"), "no delete before the containers stopped (checkpoint %d)", i)
				}
			}
			assert.Equal(t, []int64{0}, h.deletes("p"), "one final delete with grace period 0")
			if term := h.get("p").Status.ContainerStatuses[0].State.Terminated; term.ExitCode == exitCodeSIGTERM || term.ExitCode == exitCodeSIGKILL {
				assert.Equal(t, metav1.NewTime(deletedAt.Add(elapsed)), term.FinishedAt, "stopped containers finish when they stop")
			}

			h.step(time.Hour)
			assert.Equal(t, tc.checkpoints[len(tc.checkpoints)-1].want, klSummary(h.get("p")), "nothing runs after termination")
			assert.Equal(t, []int64{0}, h.deletes("p"), "no second delete")
		})
	}
}

func TestDeletedPodIsForgotten(t *testing.T) {
	h := newKlHarness(t, KubeletOptions{}, false)
	h.createAndAccept(klPod("p", corev1.RestartPolicyNever, klScript("duration", "1h")))
	h.step(time.Second)
	h.markDeleted("p", 30)
	klEventually(t, "the pod to be removed", func() bool { return h.gone("p") })
	h.waitTracked("p", "forgotten", func(sp *simPod) bool { return sp == nil })
}

func TestForceDeletedRunningPodStops(t *testing.T) {
	h := newKlHarness(t, KubeletOptions{}, false)
	h.createAndAccept(klPod("p", corev1.RestartPolicyNever, klScript("duration", "1h", "sigterm-delay", "1m")))
	h.step(time.Second)
	require.NoError(t, h.client.CoreV1().Pods("default").Delete(context.Background(), "p", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}))
	h.waitTracked("p", "forgotten", func(sp *simPod) bool { return sp == nil })
	h.step(time.Hour) // the stopped attempt's exit is dropped quietly
	assert.True(t, h.gone("p"))
}

func TestUnboundPodBeingDeletedEndsFailed(t *testing.T) {
	h := newKlHarness(t, KubeletOptions{}, true)
	pod := klPod("p", corev1.RestartPolicyNever, klScript("duration", "1s"))
	pod.DeletionTimestamp = ptr.To(metav1.NewTime(klEpoch))
	pod.DeletionGracePeriodSeconds = ptr.To[int64](0)
	h.create(pod)
	h.waitPhase("p", corev1.PodFailed)
	h.waitFor("p", "finally deleted", func(*corev1.Pod) bool { return len(h.deletes("p")) > 0 })
	got := h.get("p")
	assert.Empty(t, got.Spec.NodeName, "a pod being deleted is not bound")
	assert.Empty(t, got.Status.HostIP)
	assert.Equal(t, "Failed ready=False main=terminated(137 ContainerStatusUnknown) restarts=0", klSummary(got))
	assert.Equal(t, []int64{0}, h.deletes("p"))
}

func TestForeignConditionsSurviveStatusWrites(t *testing.T) {
	h := newKlHarness(t, KubeletOptions{}, true)
	h.createAndAccept(klPod("p", corev1.RestartPolicyNever, klScript("duration", "1h")))
	h.step(time.Second)
	pod := h.get("p")
	disruption := corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI"}
	pod.Status.Conditions = append(pod.Status.Conditions, disruption)
	_, err := h.client.CoreV1().Pods("default").UpdateStatus(context.Background(), pod, metav1.UpdateOptions{})
	require.NoError(t, err)
	h.markDeleted("p", 30)
	h.waitPhase("p", corev1.PodFailed)
	assert.Equal(t, disruption.Reason, klCondition(h.get("p"), corev1.DisruptionTarget).Reason)
}
