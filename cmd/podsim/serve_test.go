package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2/ktesting"

	"github.com/kjob-dev/kjob/internal/testutil"
	"github.com/kjob-dev/kjob/sim"
)

func testPod(name string, annotations map[string]string, args ...string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Annotations: annotations},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "main", Image: "busybox", Args: args}},
		},
	}
}

// TestServe runs podsim's body on a fake clientset: nodes are registered
// with Leases, pods are bound, run and finish, exec output carries the pod
// name, and cancelling the context stops it cleanly.
func TestServe(t *testing.T) {
	cases := []struct {
		name      string
		runtime   sim.RuntimeName
		pod       *corev1.Pod
		wantPhase corev1.PodPhase
		wantLog   string
	}{
		{name: "scripted", runtime: sim.RuntimeScripted,
			pod:       testPod("scripted", map[string]string{sim.AnnotationPrefix + "duration": "10ms"}),
			wantPhase: corev1.PodSucceeded},
		{name: "exec refused by default", runtime: sim.RuntimeScripted,
			pod:       testPod("refused", map[string]string{sim.AnnotationPrefix + "runtime": "exec"}, "/bin/sh", "-c", "echo ran"),
			wantPhase: corev1.PodFailed},
		{name: "exec when asked for", runtime: sim.RuntimeAuto,
			pod:       testPod("greeter", nil, "/bin/sh", "-c", "echo hello; exit 3"),
			wantPhase: corev1.PodFailed, wantLog: "greeter | hello\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset()
			_, ctx := ktesting.NewTestContext(t)
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			var stdout testutil.SyncBuffer
			o := options{nodeNames: []string{"n1", "n2"}, runtime: tc.runtime, seed: 1, qps: 1, burst: 1}
			done := make(chan error, 1)
			go func() { done <- serve(ctx, client, o, &stdout) }()

			_, err := client.CoreV1().Pods("default").Create(ctx, tc.pod, metav1.CreateOptions{})
			require.NoError(t, err)
			// The container's output reaches stdout on its own path, which
			// may finish a moment after the status write: wait for both.
			pod := &corev1.Pod{}
			err = wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
				got, err := client.CoreV1().Pods("default").Get(ctx, tc.pod.Name, metav1.GetOptions{})
				if err != nil {
					return false, nil
				}
				pod = got
				return pod.Status.Phase == tc.wantPhase && stdout.String() == tc.wantLog, nil
			})
			require.NoError(t, err, "pod never reached %s with log %q; last: %+v, log %q", tc.wantPhase, tc.wantLog, pod.Status, stdout.String())
			assert.Equal(t, "n1", pod.Spec.NodeName)
			require.Len(t, pod.Status.ContainerStatuses, 1)
			assert.Equal(t, tc.wantLog, stdout.String())

			nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			assert.Len(t, nodes.Items, 2)
			leases, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			assert.Len(t, leases.Items, 2, "one Lease per node")

			cancel()
			select {
			case err := <-done:
				assert.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("serve did not return after its context ended")
			}
		})
	}
}
