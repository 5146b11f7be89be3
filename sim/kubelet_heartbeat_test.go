package sim

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2/ktesting"
	testingclock "k8s.io/utils/clock/testing"
)

func TestHeartbeat(t *testing.T) {
	client := fake.NewClientset()
	clk := testingclock.NewFakeClock(klEpoch)
	k := NewKubelet(client, clk, KubeletOptions{NodeNames: []string{"a", "b"}})
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	require.NoError(t, k.RegisterNodes(ctx))
	done := make(chan error, 1)
	go func() { done <- k.Heartbeat(ctx, 10*time.Second) }()

	renewedAt := func(name string) time.Time {
		lease, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil || lease.Spec.RenewTime == nil {
			return time.Time{}
		}
		return lease.Spec.RenewTime.Time
	}
	klEventually(t, "the first beat", func() bool { return renewedAt("b").Equal(klEpoch) })
	lease, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(context.Background(), "a", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "a", *lease.Spec.HolderIdentity)
	assert.Equal(t, int32(40), *lease.Spec.LeaseDurationSeconds)

	// A node lifecycle controller gave up on a; b was deleted.
	nodeA, err := client.CoreV1().Nodes().Get(context.Background(), "a", metav1.GetOptions{})
	require.NoError(t, err)
	for i := range nodeA.Status.Conditions {
		if nodeA.Status.Conditions[i].Type == corev1.NodeReady {
			nodeA.Status.Conditions[i].Status = corev1.ConditionUnknown
		}
	}
	_, err = client.CoreV1().Nodes().UpdateStatus(context.Background(), nodeA, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.NoError(t, client.CoreV1().Nodes().Delete(context.Background(), "b", metav1.DeleteOptions{}))

	klEventually(t, "the ticker", clk.HasWaiters)
	clk.Step(10 * time.Second)
	klEventually(t, "the second beat", func() bool { return renewedAt("b").Equal(klEpoch.Add(10 * time.Second)) })
	assert.Equal(t, klEpoch.Add(10*time.Second), renewedAt("a"))
	for _, name := range []string{"a", "b"} {
		node, err := client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		require.NoError(t, err, name)
		assert.True(t, nodeReady(node), "%s is Ready again", name)
	}

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Heartbeat did not return after its context ended")
	}
	assert.Error(t, k.Heartbeat(context.Background(), 0), "an interval is required")
}
