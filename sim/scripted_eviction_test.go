package sim_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"

	"github.com/kjob-dev/kjob/sim"
)

// TestParseEvictAfter: the evict-after list takes durations and "never".
func TestParseEvictAfter(t *testing.T) {
	s, err := sim.ParseScript(map[string]string{"sim.kjob.dev/evict-after": "30s, 1m,never"})
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{30 * time.Second, time.Minute, -1}, s.EvictAfter)

	for _, bad := range []string{"", "soon", "-5s", "never,x"} {
		_, err := sim.ParseScript(map[string]string{"sim.kjob.dev/evict-after": bad})
		assert.ErrorContains(t, err, "sim.kjob.dev/evict-after", "value %q", bad)
	}
}

// TestScriptedEviction runs pods on the in-memory cluster with a kubelet
// and checks what an eviction leaves on them: the DisruptionTarget
// condition the Eviction API sets, the SIGTERM exit code, phase Failed.
func TestScriptedEviction(t *testing.T) {
	type want struct {
		phase      corev1.PodPhase
		disruption bool  // DisruptionTarget=True
		exitCode   int32 // of the only container
		endedAt    time.Duration
	}
	cases := []struct {
		name        string
		annotations map[string]string
		pods        int
		want        []want
	}{
		{name: "evicted once it has run for evict-after",
			annotations: map[string]string{"sim.kjob.dev/duration": "1m", "sim.kjob.dev/evict-after": "5s"},
			pods:        1,
			want:        []want{{phase: corev1.PodFailed, disruption: true, exitCode: 143, endedAt: 6 * time.Second}}},
		{name: "a slow SIGTERM handler delays the end",
			annotations: map[string]string{"sim.kjob.dev/duration": "1m", "sim.kjob.dev/evict-after": "5s", "sim.kjob.dev/sigterm-delay": "3s"},
			pods:        1,
			want:        []want{{phase: corev1.PodFailed, disruption: true, exitCode: 143, endedAt: 9 * time.Second}}},
		{name: "a pod that finishes first is left alone",
			annotations: map[string]string{"sim.kjob.dev/duration": "2s", "sim.kjob.dev/evict-after": "10s"},
			pods:        1,
			want:        []want{{phase: corev1.PodSucceeded, exitCode: 0, endedAt: 3 * time.Second}}},
		{name: "successive pods of a Job walk the list; never ends it",
			annotations: map[string]string{"sim.kjob.dev/duration": "20s", "sim.kjob.dev/evict-after": "5s,never"},
			pods:        3,
			want: []want{
				{phase: corev1.PodFailed, disruption: true, exitCode: 143, endedAt: 6 * time.Second},
				{phase: corev1.PodSucceeded, exitCode: 0, endedAt: 21 * time.Second},
				{phase: corev1.PodSucceeded, exitCode: 0, endedAt: 21 * time.Second},
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			c, clk := newTestCluster(t)
			kubelet := sim.NewKubelet(c.Client(), clk, sim.KubeletOptions{NodeCount: 1})
			done := make(chan error, 1)
			go func() { done <- kubelet.Run(ctx) }()
			defer func() { cancel(); <-done }()
			runner := &sim.Runner{Clock: clk, Cluster: c, Idle: []func() bool{kubelet.Idle}}

			for i := range tc.pods {
				start := clk.Now()
				p := testPod("p"+string(rune('a'+i)), func(p *corev1.Pod) {
					p.Spec.NodeName = ""
					p.Labels["batch.kubernetes.io/controller-uid"] = "job-1"
					p.Annotations = tc.annotations
					p.Finalizers = []string{"test.kjob.dev/keep"} // keep it readable after the delete
				})
				createPod(t, c, p)
				require.NoError(t, runner.RunUntil(ctx, func() bool {
					got := getPod(t, c, p.Name)
					return got != nil && (got.Status.Phase == corev1.PodSucceeded || got.Status.Phase == corev1.PodFailed)
				}, time.Hour))
				got := getPod(t, c, p.Name)
				w := tc.want[i]
				assert.Equal(t, w.phase, got.Status.Phase, "pod %d: phase", i)
				assert.Equal(t, w.disruption, hasDisruptionTarget(got), "pod %d: DisruptionTarget", i)
				terminated := got.Status.ContainerStatuses[0].State.Terminated
				require.NotNil(t, terminated, "pod %d", i)
				assert.Equal(t, w.exitCode, terminated.ExitCode, "pod %d: exit code", i)
				assert.Equal(t, w.endedAt, terminated.FinishedAt.Sub(start), "pod %d: ended after", i)
				assert.Equal(t, w.disruption, got.DeletionTimestamp != nil, "pod %d: deleted by the eviction", i)
			}
		})
	}
}

func hasDisruptionTarget(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}
