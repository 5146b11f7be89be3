package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
)

// klSelecting is a pod whose nodeSelector holds the given labels.
func klSelecting(name string, selector map[string]string) *corev1.Pod {
	pod := klPod(name, corev1.RestartPolicyNever, klScript("duration", "1h"))
	pod.Spec.NodeSelector = selector
	return pod
}

func TestKubeletHonoursNodeSelector(t *testing.T) {
	h := newKlHarness(t, KubeletOptions{}, false)
	h.create(klSelecting("elsewhere", map[string]string{corev1.LabelHostname: "real-node"}))
	h.createAndAccept(klSelecting("second", map[string]string{corev1.LabelHostname: "sim-node-2"}))
	h.createAndAccept(klPod("any", corev1.RestartPolicyNever, klScript("duration", "1h")))
	h.createAndAccept(klSelecting("simulated", map[string]string{AnnotationPrefix + "node": "true"}))
	h.step(time.Minute)

	assert.Empty(t, h.get("elsewhere").Spec.NodeName, "no simulated node matches")
	assert.Nil(t, h.get("elsewhere").Status.StartTime, "a pod left to others gets no status")
	assert.Equal(t, "sim-node-2", h.get("second").Spec.NodeName)
	assert.Equal(t, "sim-node-3", h.get("any").Spec.NodeName, "turns continue after the last node used")
	assert.Equal(t, "sim-node-1", h.get("simulated").Spec.NodeName)
}

func TestKubeletSelectedPodsOnly(t *testing.T) {
	h := newKlHarness(t, KubeletOptions{NodeNames: []string{"a", "b"}, SelectedPodsOnly: true}, false)
	h.create(klPod("unselected", corev1.RestartPolicyNever, klScript("duration", "1s")))
	h.createAndAccept(klSelecting("selected", map[string]string{corev1.LabelHostname: "b"}))
	bound := klPod("bound", corev1.RestartPolicyNever, klScript("duration", "1s"))
	bound.Spec.NodeName = "a"
	h.createAndAccept(bound)
	h.step(time.Second) // started
	h.step(time.Second) // exited

	assert.Empty(t, h.get("unselected").Spec.NodeName)
	assert.Nil(t, h.get("unselected").Status.StartTime)
	assert.Equal(t, "b", h.get("selected").Spec.NodeName)
	assert.Equal(t, "Succeeded ready=False main=terminated(0 Completed) restarts=0", klSummary(h.get("bound")),
		"a pod bound to one of its nodes runs without a selector")
}

func TestKubeletLeavesUnboundDeletedPodsItWouldNotSchedule(t *testing.T) {
	h := newKlHarness(t, KubeletOptions{}, true)
	h.create(klSelecting("elsewhere", map[string]string{corev1.LabelHostname: "real-node"}))
	h.markDeleted("elsewhere", 30)
	h.createAndAccept(klPod("marker", corev1.RestartPolicyNever, nil)) // events run in order
	assert.Nil(t, h.get("elsewhere").Status.StartTime)
	assert.Empty(t, h.deletes("elsewhere"))
}
