package sim

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	testingclock "k8s.io/utils/clock/testing"
)

// scripted annotations shared by many tests
func klScript(kv ...string) map[string]string {
	out := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[AnnotationPrefix+kv[i]] = kv[i+1]
	}
	return out
}

func klCondition(p *corev1.Pod, t corev1.PodConditionType) corev1.PodCondition {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c
		}
	}
	return corev1.PodCondition{}
}

func TestKubeletBindsRoundRobinAndReportsPending(t *testing.T) {
	h := newKlHarness(t, KubeletOptions{}, false)
	names := []string{"p1", "p2", "p3", "p4"}
	for _, name := range names {
		h.createAndAccept(klPod(name, corev1.RestartPolicyNever, klScript("duration", "5s")))
	}
	wantNodes := []string{"sim-node-1", "sim-node-2", "sim-node-3", "sim-node-1"}
	wantHostIPs := []string{"172.18.0.2", "172.18.0.3", "172.18.0.4", "172.18.0.2"}
	for i, name := range names {
		pod := h.get(name)
		assert.Equal(t, wantNodes[i], pod.Spec.NodeName, name)
		assert.Equal(t, wantHostIPs[i], pod.Status.HostIP, name)
	}

	pod := h.get("p1")
	assert.Equal(t, "Pending ready=False main=waiting(ContainerCreating) restarts=0", klSummary(pod))
	assert.Equal(t, h.at(0), *pod.Status.StartTime)
	assert.Empty(t, pod.Status.PodIP, "no pod IP before the sandbox exists")
	wantConditions := []struct {
		typ     corev1.PodConditionType
		status  corev1.ConditionStatus
		reason  string
		message string
	}{
		{corev1.PodReadyToStartContainers, corev1.ConditionFalse, "", ""},
		{corev1.PodInitialized, corev1.ConditionTrue, "", ""},
		{corev1.PodReady, corev1.ConditionFalse, "ContainersNotReady", "containers with unready status: [main]"},
		{corev1.ContainersReady, corev1.ConditionFalse, "ContainersNotReady", "containers with unready status: [main]"},
		{corev1.PodScheduled, corev1.ConditionTrue, "", ""},
	}
	require.Len(t, pod.Status.Conditions, len(wantConditions))
	for i, want := range wantConditions {
		got := pod.Status.Conditions[i]
		assert.Equal(t, want.typ, got.Type)
		assert.Equal(t, want.status, got.Status, want.typ)
		assert.Equal(t, want.reason, got.Reason, want.typ)
		assert.Equal(t, want.message, got.Message, want.typ)
		assert.Equal(t, h.at(0), got.LastTransitionTime, want.typ)
	}
}

func TestKubeletIgnoresPodsOfOtherNodes(t *testing.T) {
	h := newKlHarness(t, KubeletOptions{}, false)
	foreign := klPod("foreign", corev1.RestartPolicyNever, klScript("duration", "1s"))
	foreign.Spec.NodeName = "real-node"
	h.create(foreign)
	ours := klPod("ours", corev1.RestartPolicyNever, klScript("duration", "1s"))
	h.createAndAccept(ours) // handled after foreign: events run in order
	assert.Nil(t, h.get("foreign").Status.StartTime)
	assert.Equal(t, "sim-node-1", h.get("ours").Spec.NodeName, "the foreign pod took no node turn")
}

func TestKubeletRunningStatus(t *testing.T) {
	h := newKlHarness(t, KubeletOptions{}, false)
	h.createAndAccept(klPod("p", corev1.RestartPolicyNever, klScript("duration", "5s")))
	h.step(time.Second)

	pod := h.get("p")
	assert.Equal(t, "Running ready=True main=running restarts=0", klSummary(pod))
	assert.Equal(t, "10.244.1.2", pod.Status.PodIP)
	assert.Equal(t, []corev1.PodIP{{IP: "10.244.1.2"}}, pod.Status.PodIPs)
	cs := pod.Status.ContainerStatuses[0]
	assert.Equal(t, h.at(time.Second), cs.State.Running.StartedAt)
	assert.True(t, cs.Ready)
	assert.Equal(t, true, *cs.Started)
	assert.NotEmpty(t, cs.ContainerID)
	assert.Equal(t, "busybox", cs.Image)
	for _, typ := range []corev1.PodConditionType{corev1.PodReady, corev1.ContainersReady, corev1.PodReadyToStartContainers} {
		c := klCondition(pod, typ)
		assert.Equal(t, corev1.ConditionTrue, c.Status, typ)
		assert.Equal(t, h.at(time.Second), c.LastTransitionTime, typ)
	}
	assert.Equal(t, h.at(0), klCondition(pod, corev1.PodScheduled).LastTransitionTime, "unchanged conditions keep their time")

	h.step(5 * time.Second)
	pod = h.get("p")
	term := pod.Status.ContainerStatuses[0].State.Terminated
	require.NotNil(t, term)
	assert.Equal(t, h.at(time.Second), term.StartedAt)
	assert.Equal(t, h.at(6*time.Second), term.FinishedAt)
	assert.Equal(t, "Completed", term.Reason)
	ready := klCondition(pod, corev1.PodReady)
	assert.Equal(t, corev1.ConditionFalse, ready.Status)
	assert.Equal(t, "PodCompleted", ready.Reason)
	assert.Equal(t, h.at(6*time.Second), ready.LastTransitionTime)
	assert.Equal(t, corev1.ConditionFalse, klCondition(pod, corev1.PodReadyToStartContainers).Status)
}

// klCheckpoint: after moving virtual time by advance, the pod reads want.
type klCheckpoint struct {
	advance time.Duration
	want    string
}

func TestKubeletLifecycle(t *testing.T) {
	const (
		pending  = "Pending ready=False main=waiting(ContainerCreating) restarts=0"
		running  = "Running ready=True main=running restarts=0"
		finished = "Succeeded ready=False main=terminated(0 Completed) restarts=0"
	)
	cases := []struct {
		name        string
		policy      corev1.RestartPolicy
		annotations map[string]string
		checkpoints []klCheckpoint
	}{
		{
			name:        "Never: exit 0 succeeds",
			policy:      corev1.RestartPolicyNever,
			annotations: klScript("duration", "5s"),
			checkpoints: []klCheckpoint{{0, pending}, {time.Second, running}, {4 * time.Second, running}, {time.Second, finished}},
		},
		{
			name:        "Never: a non-zero exit fails the pod",
			policy:      corev1.RestartPolicyNever,
			annotations: klScript("duration", "5s", "exit-codes", "3"),
			checkpoints: []klCheckpoint{{0, pending}, {time.Second, running},
				{5 * time.Second, "Failed ready=False main=terminated(3 Error) restarts=0"}},
		},
		{
			name:        "OnFailure: exit 0 succeeds",
			policy:      corev1.RestartPolicyOnFailure,
			annotations: klScript("duration", "2s"),
			checkpoints: []klCheckpoint{{0, pending}, {time.Second, running}, {2 * time.Second, finished}},
		},
		{
			name:        "OnFailure: failures restart in place after a doubling back-off until success",
			policy:      corev1.RestartPolicyOnFailure,
			annotations: klScript("duration", "5s", "exit-codes", "1,2,0"),
			checkpoints: []klCheckpoint{
				{0, pending},
				{time.Second, running},
				{5 * time.Second, "Running ready=False main=waiting(CrashLoopBackOff) restarts=1 last=terminated(1 Error)"},
				{9 * time.Second, "Running ready=False main=waiting(CrashLoopBackOff) restarts=1 last=terminated(1 Error)"},
				{time.Second, "Running ready=True main=running restarts=1 last=terminated(1 Error)"},
				{5 * time.Second, "Running ready=False main=waiting(CrashLoopBackOff) restarts=2 last=terminated(2 Error)"},
				{19 * time.Second, "Running ready=False main=waiting(CrashLoopBackOff) restarts=2 last=terminated(2 Error)"},
				{time.Second, "Running ready=True main=running restarts=2 last=terminated(2 Error)"},
				{5 * time.Second, "Succeeded ready=False main=terminated(0 Completed) restarts=2 last=terminated(2 Error)"},
			},
		},
		{
			name:        "Always: even a success restarts",
			policy:      corev1.RestartPolicyAlways,
			annotations: klScript("duration", "1s"),
			checkpoints: []klCheckpoint{{0, pending}, {time.Second, running},
				{time.Second, "Running ready=False main=waiting(CrashLoopBackOff) restarts=1 last=terminated(0 Completed)"}},
		},
		{
			name:        "per-attempt durations",
			policy:      corev1.RestartPolicyOnFailure,
			annotations: klScript("duration", "1s,3s", "exit-codes", "1,0"),
			checkpoints: []klCheckpoint{{0, pending}, {time.Second, running},
				{time.Second, "Running ready=False main=waiting(CrashLoopBackOff) restarts=1 last=terminated(1 Error)"},
				{10 * time.Second, "Running ready=True main=running restarts=1 last=terminated(1 Error)"},
				{2 * time.Second, "Running ready=True main=running restarts=1 last=terminated(1 Error)"},
				{time.Second, "Succeeded ready=False main=terminated(0 Completed) restarts=1 last=terminated(1 Error)"}},
		},
		{
			name:        "start-delay annotation replaces the kubelet's delay",
			policy:      corev1.RestartPolicyNever,
			annotations: klScript("start-delay", "3s", "duration", "1s"),
			checkpoints: []klCheckpoint{{0, pending}, {2 * time.Second, pending}, {time.Second, running}, {time.Second, finished}},
		},
		{
			name:        "zero duration exits as soon as it starts",
			policy:      corev1.RestartPolicyNever,
			annotations: klScript("duration", "0s"),
			checkpoints: []klCheckpoint{{0, pending}, {time.Second, finished}},
		},
		{
			name:        "no start delay and no duration",
			policy:      corev1.RestartPolicyNever,
			annotations: klScript("start-delay", "0s", "duration", "0s"),
			checkpoints: []klCheckpoint{{0, finished}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newKlHarness(t, KubeletOptions{}, false)
			h.createAndAccept(klPod("p", tc.policy, tc.annotations))
			for i, cp := range tc.checkpoints {
				h.step(cp.advance)
				assert.Equal(t, cp.want, klSummary(h.get("p")), "checkpoint %d", i)
			}
		})
	}
}

func TestKubeletMultiContainerPod(t *testing.T) {
	cases := []struct {
		name    string
		policy  corev1.RestartPolicy
		codeOfB string
		wantMid string
		wantEnd string
	}{
		{
			name: "Never: running until the last container exits", policy: corev1.RestartPolicyNever, codeOfB: "0",
			wantMid: "Running ready=False a=terminated(0 Completed) restarts=0 b=running restarts=0",
			wantEnd: "Succeeded ready=False a=terminated(0 Completed) restarts=0 b=terminated(0 Completed) restarts=0",
		},
		{
			name: "Never: one failed container fails the pod", policy: corev1.RestartPolicyNever, codeOfB: "4",
			wantMid: "Running ready=False a=terminated(0 Completed) restarts=0 b=running restarts=0",
			wantEnd: "Failed ready=False a=terminated(0 Completed) restarts=0 b=terminated(4 Error) restarts=0",
		},
		{
			name: "OnFailure: only the failed container restarts", policy: corev1.RestartPolicyOnFailure, codeOfB: "4",
			wantMid: "Running ready=False a=terminated(0 Completed) restarts=0 b=running restarts=0",
			wantEnd: "Running ready=False a=terminated(0 Completed) restarts=0 b=waiting(CrashLoopBackOff) restarts=1 last=terminated(4 Error)",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newKlHarness(t, KubeletOptions{}, false)
			pod := klPod("p", tc.policy, klScript("duration-container-a", "1s", "duration-container-b", "2s",
				"exit-codes-container-b", tc.codeOfB))
			pod.Spec.Containers = []corev1.Container{{Name: "a", Image: "busybox"}, {Name: "b", Image: "busybox"}}
			h.createAndAccept(pod)
			h.step(time.Second)
			assert.Equal(t, "Running ready=True a=running restarts=0 b=running restarts=0", klSummary(h.get("p")))
			h.step(time.Second)
			assert.Equal(t, tc.wantMid, klSummary(h.get("p")))
			assert.Equal(t, "containers with unready status: [a]", klCondition(h.get("p"), corev1.PodReady).Message)
			h.step(time.Second)
			assert.Equal(t, tc.wantEnd, klSummary(h.get("p")))
		})
	}
}

func TestCrashLoopBackOffTiming(t *testing.T) {
	cases := []struct {
		name       string
		opts       KubeletOptions
		wantDelays []time.Duration
	}{
		{
			name:       "defaults double from 10s and cap at 300s",
			wantDelays: []time.Duration{10, 20, 40, 80, 160, 300, 300},
		},
		{
			name:       "configured back-off",
			opts:       KubeletOptions{RestartBackoff: 2 * time.Second, MaxRestartBackoff: 5 * time.Second},
			wantDelays: []time.Duration{2, 4, 5, 5},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newKlHarness(t, tc.opts, false)
			h.createAndAccept(klPod("p", corev1.RestartPolicyOnFailure, klScript("duration", "0s", "exit-codes", "1")))
			h.step(time.Second) // first start, which fails at once
			started := time.Second
			for i, delay := range tc.wantDelays {
				delay *= time.Second
				cs := h.get("p").Status.ContainerStatuses[0]
				require.Equal(t, int32(i+1), cs.RestartCount, "restart %d", i)
				assert.Equal(t, h.at(started), cs.LastTerminationState.Terminated.StartedAt, "restart %d", i)
				assert.Contains(t, cs.State.Waiting.Message, fmt.Sprintf("back-off %s restarting failed container=main", delay))

				h.step(delay - time.Second)
				assert.Equal(t, int32(i+1), h.get("p").Status.ContainerStatuses[0].RestartCount, "still backing off before restart %d", i)
				h.step(time.Second)
				started += delay
			}
		})
	}
}

func TestCrashLoopBackOffResetsAfterALongRun(t *testing.T) {
	h := newKlHarness(t, KubeletOptions{RestartBackoff: 10 * time.Second, MaxRestartBackoff: 300 * time.Second}, false)
	// Attempts 1 and 2 fail at once; attempt 3 runs 600s (twice the cap) first.
	h.createAndAccept(klPod("p", corev1.RestartPolicyOnFailure, klScript("duration", "0s,0s,600s", "exit-codes", "1")))
	h.step(time.Second)
	h.step(10 * time.Second)
	assert.Contains(t, h.get("p").Status.ContainerStatuses[0].State.Waiting.Message, "back-off 20s")
	h.step(20 * time.Second)
	assert.Equal(t, "Running ready=True main=running restarts=2 last=terminated(1 Error)", klSummary(h.get("p")))
	h.step(600 * time.Second)
	cs := h.get("p").Status.ContainerStatuses[0]
	require.NotNil(t, cs.State.Waiting)
	assert.Contains(t, cs.State.Waiting.Message, "back-off 10s", "a long run starts the back-off over")
}

func TestKubeletConfigErrors(t *testing.T) {
	cases := []struct {
		name        string
		opts        KubeletOptions
		pod         func() *corev1.Pod
		wantMessage string
	}{
		{
			name: "malformed duration",
			pod: func() *corev1.Pod {
				return klPod("p", corev1.RestartPolicyNever, klScript("duration", "five seconds"))
			},
			wantMessage: `annotation sim.kjob.dev/duration="five seconds": "five seconds" is not a duration`,
		},
		{
			name: "unknown annotation",
			pod: func() *corev1.Pod {
				return klPod("p", corev1.RestartPolicyOnFailure, klScript("exit-code", "1"))
			},
			wantMessage: `annotation sim.kjob.dev/exit-code="1": unknown annotation`,
		},
		{
			name: "exec pod without a command line",
			pod: func() *corev1.Pod {
				return klPod("p", corev1.RestartPolicyNever, nil)
			},
			wantMessage: `container "main" has neither command nor args`,
		},
		{
			name: "exec pod with an unsupported env source",
			pod: func() *corev1.Pod {
				pod := klPod("p", corev1.RestartPolicyNever, nil)
				pod.Spec.Containers[0].Args = []string{"true"}
				pod.Spec.Containers[0].Env = []corev1.EnvVar{fieldEnv("X", "spec.hostname")}
				return pod
			},
			wantMessage: `container "main": env X: fieldRef fieldPath "spec.hostname" is not supported`,
		},
		{
			name: "exec asked for where it is disabled",
			opts: KubeletOptions{DefaultRuntime: RuntimeScripted, DisableExec: true},
			pod: func() *corev1.Pod {
				pod := klPod("p", corev1.RestartPolicyNever, klScript("runtime", "exec"))
				pod.Spec.Containers[0].Args = []string{"/bin/sh", "-c", "echo should not run"}
				return pod
			},
			wantMessage: `sim.kjob.dev/runtime=exec: this kubelet does not run commands on its host`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newKlHarness(t, tc.opts, false)
			h.create(tc.pod())
			h.waitPhase("p", corev1.PodFailed)
			h.step(time.Minute) // nothing is left to start
			pod := h.get("p")
			assert.Equal(t, "Failed ready=False main=waiting(CreateContainerConfigError) restarts=0", klSummary(pod))
			assert.Equal(t, "CreateContainerConfigError", pod.Status.Reason)
			assert.Contains(t, pod.Status.Message, tc.wantMessage)
			assert.Contains(t, pod.Status.ContainerStatuses[0].State.Waiting.Message, tc.wantMessage)
		})
	}
}

func TestKubeletOptions(t *testing.T) {
	cases := []struct {
		name      string
		opts      KubeletOptions
		wantNodes []string
		wantErr   string
	}{
		{name: "defaults", wantNodes: []string{"sim-node-1", "sim-node-2", "sim-node-3"}},
		{name: "node count", opts: KubeletOptions{NodeCount: 2}, wantNodes: []string{"sim-node-1", "sim-node-2"}},
		{name: "node names win over the count", opts: KubeletOptions{NodeNames: []string{"a", "b"}, NodeCount: 5}, wantNodes: []string{"a", "b"}},
		{name: "negative node count", opts: KubeletOptions{NodeCount: -1}, wantErr: "NodeCount -1: want 1 to 254"},
		{name: "too many nodes", opts: KubeletOptions{NodeCount: 255}, wantErr: "NodeCount 255"},
		{name: "invalid node name", opts: KubeletOptions{NodeNames: []string{"Node_1"}}, wantErr: `NodeNames: "Node_1"`},
		{name: "duplicate node name", opts: KubeletOptions{NodeNames: []string{"a", "a"}}, wantErr: `NodeNames: "a" appears twice`},
		{name: "unknown runtime", opts: KubeletOptions{DefaultRuntime: "docker"}, wantErr: `DefaultRuntime: unknown runtime "docker"`},
		{name: "exec disabled under the scripted default", opts: KubeletOptions{DefaultRuntime: RuntimeScripted, DisableExec: true}, wantNodes: []string{"sim-node-1", "sim-node-2", "sim-node-3"}},
		{name: "exec disabled under the auto default", opts: KubeletOptions{DisableExec: true}, wantErr: "DisableExec needs DefaultRuntime scripted, not auto"},
		{name: "cap below the first back-off", opts: KubeletOptions{RestartBackoff: time.Minute, MaxRestartBackoff: time.Second}, wantErr: "want 0 < RestartBackoff <= MaxRestartBackoff"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			k := NewKubelet(fake.NewClientset(), testingclock.NewFakeClock(klEpoch), tc.opts)
			if tc.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, tc.wantNodes, k.NodeNames())
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			runErr := k.Run(context.Background())
			require.Error(t, runErr, "Run refuses bad options instead of starting")
			assert.Contains(t, runErr.Error(), tc.wantErr)
			assert.Error(t, k.RegisterNodes(context.Background()))
		})
	}
}

func TestKubeletIsNotIdleBeforeRun(t *testing.T) {
	k := NewKubelet(fake.NewClientset(), testingclock.NewFakeClock(klEpoch), KubeletOptions{})
	assert.False(t, k.Idle(), "a kubelet that has not seen the pods yet must not let time move")
}

func TestRegisterNodes(t *testing.T) {
	client := fake.NewClientset()
	k := NewKubelet(client, testingclock.NewFakeClock(klEpoch), KubeletOptions{NodeCount: 2})
	require.NoError(t, k.RegisterNodes(context.Background()))
	require.NoError(t, k.RegisterNodes(context.Background()), "registering again is fine")

	nodes, err := client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, nodes.Items, 2)
	node := nodes.Items[1]
	assert.Equal(t, "sim-node-2", node.Name)
	assert.Equal(t, "10.244.2.0/24", node.Spec.PodCIDR)
	assert.Equal(t, "172.18.0.3", node.Status.Addresses[0].Address)
	assert.Equal(t, "110", node.Status.Allocatable.Pods().String())
	var ready corev1.NodeCondition
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			ready = c
		}
	}
	assert.Equal(t, corev1.ConditionTrue, ready.Status)
}
