package integration

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/sim"
)

// podsimNodes are the nodes of the podsim under test. The suite's shared
// kubelet has others; with --selected-only podsim takes only the pods that
// select its nodes, and the shared kubelet never binds those.
var podsimNodes = []string{"podsim-it-1", "podsim-it-2"}

// podOnNode is a bare pod whose nodeSelector names one podsim node.
func podOnNode(name, node string, annotations map[string]string, args ...string) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "main", Image: "busybox", Args: args}},
		},
	}
	if node != "" {
		pod.Spec.NodeSelector = map[string]string{corev1.LabelHostname: node}
	}
	return pod
}

// TestPodsim runs the podsim binary against the real apiserver, beside the
// suite's own simulated kubelet.
func TestPodsim(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ns := newNamespace(t, client)
	ctx := context.Background()
	t.Cleanup(func() {
		for _, name := range podsimNodes {
			_ = client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{})
		}
	})
	podsim := startPodsim(t,
		"--kubeconfig="+adminKubeconfig(t, "podsim-it"),
		"--node-names="+strings.Join(podsimNodes, ","),
		"--runtime=auto", "--selected-only", "--start-delay=100ms", "-v=2")

	for _, name := range podsimNodes {
		var node *corev1.Node
		waitFor(t, "node "+name+" Ready", func(ctx context.Context) bool {
			var err error
			node, err = client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			return err == nil && nodeCondition(node, corev1.NodeReady) == corev1.ConditionTrue
		})
		assert.Equal(t, "110", node.Status.Allocatable.Pods().String(), name)
		waitFor(t, "the Lease of "+name, func(ctx context.Context) bool {
			lease, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, name, metav1.GetOptions{})
			return err == nil && lease.Spec.RenewTime != nil && len(lease.OwnerReferences) == 1
		})
	}

	create := func(pod *corev1.Pod) {
		t.Helper()
		_, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		require.NoError(t, err)
	}

	t.Run("a scripted pod is bound, runs and succeeds", func(t *testing.T) {
		create(podOnNode("scripted", "podsim-it-2", map[string]string{sim.AnnotationPrefix + "duration": "300ms"}))
		pod := waitForPod(t, client, ns, "scripted", "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		assert.Equal(t, "podsim-it-2", pod.Spec.NodeName)
		require.Len(t, pod.Status.ContainerStatuses, 1)
		cs := pod.Status.ContainerStatuses[0]
		require.NotNil(t, cs.State.Terminated, "terminated container status")
		assert.Equal(t, int32(0), cs.State.Terminated.ExitCode)
		assert.Equal(t, "Completed", cs.State.Terminated.Reason)
		assert.False(t, cs.State.Terminated.FinishedAt.IsZero())
		assert.False(t, cs.State.Terminated.StartedAt.IsZero())
		assert.NotEmpty(t, pod.Status.PodIP)
		assert.Equal(t, corev1.ConditionFalse, podCondition(pod, corev1.PodReady))
		assert.Equal(t, corev1.ConditionTrue, podCondition(pod, corev1.PodScheduled))
	})

	t.Run("an exec pod's output is printed with its name", func(t *testing.T) {
		create(podOnNode("greeter", "podsim-it-1", nil, "/bin/sh", "-c", "echo hello from $HOSTNAME"))
		pod := waitForPod(t, client, ns, "greeter", "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		assert.Equal(t, "podsim-it-1", pod.Spec.NodeName)
		assert.Contains(t, podsim.stdout.String(), "greeter | hello from greeter\n")
	})

	t.Run("a pod without a selector is left to the shared kubelet", func(t *testing.T) {
		create(podOnNode("unselected", "", map[string]string{sim.AnnotationPrefix + "duration": "100ms"}))
		pod := waitForPod(t, client, ns, "unselected", "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		assert.NotContains(t, podsimNodes, pod.Spec.NodeName)
	})

	t.Run("graceful deletion stops the container and removes the pod", func(t *testing.T) {
		pod := podOnNode("long", "podsim-it-1", map[string]string{sim.AnnotationPrefix + "duration": "1h"})
		pod.Finalizers = []string{"kjob.dev/integration-test"} // keeps the final status readable
		create(pod)
		waitForPod(t, client, ns, "long", "Ready", func(p *corev1.Pod) bool { return podCondition(p, corev1.PodReady) == corev1.ConditionTrue })
		require.NoError(t, client.CoreV1().Pods(ns).Delete(ctx, "long", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](30)}))
		// podsim writes the Failed status first and deletes the pod for good
		// (grace 0) right after: wait for both, not just the first.
		pod = waitForPod(t, client, ns, "long", "Failed and deleted with grace 0", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodFailed && ptr.Deref(p.DeletionGracePeriodSeconds, -1) == 0
		})
		require.NotNil(t, pod.Status.ContainerStatuses[0].State.Terminated)
		assert.Equal(t, int32(143), pod.Status.ContainerStatuses[0].State.Terminated.ExitCode, "ended by SIGTERM")

		pod.Finalizers = nil
		_, err := client.CoreV1().Pods(ns).Update(ctx, pod, metav1.UpdateOptions{})
		require.NoError(t, err)
		waitForPods(t, client, ns, "lost the deleted pod", func(pods []corev1.Pod) bool {
			for _, p := range pods {
				if p.UID == pod.UID {
					return false
				}
			}
			return true
		})
	})

	assert.Equal(t, 0, podsim.terminate(t), "a clean shutdown on SIGTERM")
	assert.Contains(t, podsim.stderr.String(), "Stopped")
}

func nodeCondition(node *corev1.Node, t corev1.NodeConditionType) corev1.ConditionStatus {
	for _, c := range node.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}
