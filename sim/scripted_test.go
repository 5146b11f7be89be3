package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// klRunToEnd creates a pod and runs it for start delay plus the default
// one-second attempt, which ends every pod in these tests.
func klRunToEnd(h *klHarness, pod *corev1.Pod) *corev1.Pod {
	h.t.Helper()
	h.createAndAccept(pod)
	h.step(time.Second)
	h.step(time.Second)
	return h.get(pod.Name)
}

func klExitCode(p *corev1.Pod) int32 {
	if t := p.Status.ContainerStatuses[0].State.Terminated; t != nil {
		return t.ExitCode
	}
	return -1
}

func TestScriptedExitCodesCountAttemptsAcrossPods(t *testing.T) {
	type run struct {
		pod      string
		job      string // controller-uid label; "" keeps the default Job
		index    string // completion index label; "" for none
		wantExit int32
	}
	cases := []struct {
		name        string
		annotations map[string]string
		runs        []run
	}{
		{
			name:        "attempts of one Job walk the list, the last value repeats",
			annotations: klScript("exit-codes", "1,2,0"),
			runs:        []run{{pod: "a", wantExit: 1}, {pod: "b", wantExit: 2}, {pod: "c", wantExit: 0}, {pod: "d", wantExit: 0}},
		},
		{
			name:        "another Job starts its own series",
			annotations: klScript("exit-codes", "1,0"),
			runs:        []run{{pod: "a", wantExit: 1}, {pod: "x", job: "other-job", wantExit: 1}, {pod: "b", wantExit: 0}},
		},
		{
			name:        "each completion index has its own series",
			annotations: klScript("exit-codes", "1,0"),
			runs: []run{
				{pod: "i0a", index: "0", wantExit: 1}, {pod: "i1a", index: "1", wantExit: 1},
				{pod: "i0b", index: "0", wantExit: 0}, {pod: "i1b", index: "1", wantExit: 0},
			},
		},
		{
			name:        "per-index exit codes",
			annotations: klScript("exit-codes", "0", "exit-codes-index-2", "3,0"),
			runs: []run{
				{pod: "i0", index: "0", wantExit: 0}, {pod: "i2a", index: "2", wantExit: 3},
				{pod: "i2b", index: "2", wantExit: 0},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newKlHarness(t, KubeletOptions{}, false)
			for _, r := range tc.runs {
				pod := klPod(r.pod, corev1.RestartPolicyNever, tc.annotations)
				if r.job != "" {
					pod.Labels[labelControllerUID] = r.job
				}
				if r.index != "" {
					pod.Labels[labelCompletionIndex] = r.index
				}
				assert.Equal(t, r.wantExit, klExitCode(klRunToEnd(h, pod)), "pod %s", r.pod)
			}
		})
	}
}

func TestScriptedAttemptKey(t *testing.T) {
	controller := true
	cases := []struct {
		name   string
		labels map[string]string
		owners bool
		want   string
	}{
		{name: "controller-uid label", labels: map[string]string{labelControllerUID: "u1", labelJobName: "j"}, want: "ns/job-uid:u1/container:main"},
		{name: "legacy controller-uid label", labels: map[string]string{labelLegacyControllerUID: "u2"}, want: "ns/job-uid:u2/container:main"},
		{name: "controller owner reference", owners: true, want: "ns/owner-uid:owner-1/container:main"},
		{name: "job-name label", labels: map[string]string{labelJobName: "j"}, want: "ns/job:j/container:main"},
		{name: "legacy job-name label", labels: map[string]string{labelLegacyJobName: "j"}, want: "ns/job:j/container:main"},
		{name: "standalone pod", want: "ns/pod:pod-uid/container:main"},
		{name: "completion index", labels: map[string]string{labelJobName: "j", labelCompletionIndex: "4"}, want: "ns/job:j/index:4/container:main"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{}
			pod.Namespace, pod.UID, pod.Labels = "ns", types.UID("pod-uid"), tc.labels
			if tc.owners {
				pod.OwnerReferences = append(pod.OwnerReferences,
					ownerRef("owner-0", nil), ownerRef("owner-1", &controller))
			}
			assert.Equal(t, tc.want, attemptKey(pod, "main"))
		})
	}
}

func ownerRef(uid string, controller *bool) metav1.OwnerReference {
	return metav1.OwnerReference{Kind: "Job", Name: "j", UID: types.UID(uid), Controller: controller}
}

func TestScriptedFailureProbability(t *testing.T) {
	outcomes := func(seed uint64, p string) []int32 {
		h := newKlHarness(t, KubeletOptions{Seed: seed}, false)
		var codes []int32
		for _, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
			pod := klPod(name, corev1.RestartPolicyNever, klScript("failure-probability", p, "failure-exit-code", "7"))
			codes = append(codes, klExitCode(klRunToEnd(h, pod)))
		}
		h.stop()
		return codes
	}

	always := outcomes(1, "1")
	assert.Equal(t, []int32{7, 7, 7, 7, 7, 7, 7, 7}, always, "probability 1 fails every attempt")
	never := outcomes(1, "0")
	assert.Equal(t, []int32{0, 0, 0, 0, 0, 0, 0, 0}, never, "probability 0 fails none")

	first := outcomes(42, "0.5")
	assert.Equal(t, first, outcomes(42, "0.5"), "the same seed draws the same outcomes")
	assert.Contains(t, first, int32(0))
	assert.Contains(t, first, int32(7))
}

func TestScriptedFailureIsExplained(t *testing.T) {
	h := newKlHarness(t, KubeletOptions{}, false)
	pod := klRunToEnd(h, klPod("p", corev1.RestartPolicyNever, klScript("failure-probability", "1")))
	term := pod.Status.ContainerStatuses[0].State.Terminated
	require.NotNil(t, term)
	assert.Equal(t, int32(1), term.ExitCode, "the default failure exit code")
	assert.Equal(t, "failed by sim.kjob.dev/failure-probability=1", term.Message)
}
