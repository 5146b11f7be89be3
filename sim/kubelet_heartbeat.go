package sim

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// Node heartbeats. Where kube-controller-manager runs its node lifecycle
// controller, a node that has not been heard from for the node monitor
// grace period is marked Unknown, tainted unreachable, and its pods are
// evicted some minutes later. A kubelet is heard from through its Lease in
// the kube-node-lease namespace, renewed every few seconds; Heartbeat does
// the same for the simulated nodes. jobsim's in-memory cluster has no such
// controller, so only podsim calls it.

// nodeLeaseDuration is the duration written into each node's Lease, the
// same as a kubelet's default.
const nodeLeaseDuration = 40 * time.Second

// Heartbeat renews the Lease of every node at once and then every
// interval, until ctx ends. A node found missing, or not Ready (after a
// pause longer than the grace period, say), is registered again. Failures
// are logged and retried at the next beat.
func (k *Kubelet) Heartbeat(ctx context.Context, interval time.Duration) error {
	if k.optsErr != nil {
		return fmt.Errorf("kubelet options: %w", k.optsErr)
	}
	if interval <= 0 {
		return fmt.Errorf("heartbeat interval %v: want more than 0", interval)
	}
	logger := klog.FromContext(ctx).WithName("sim-kubelet")
	ctx = klog.NewContext(ctx, logger)
	ticker := k.clock.NewTicker(interval)
	defer ticker.Stop()
	for {
		for _, n := range k.nodes {
			if err := k.heartbeatNode(ctx, n); err != nil && ctx.Err() == nil {
				logger.Error(err, "Node heartbeat failed, will retry", "node", n.name)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
		}
	}
}

// heartbeatNode renews n's Lease, registering n again first if needed.
func (k *Kubelet) heartbeatNode(ctx context.Context, n *simNode) error {
	nodes := k.client.CoreV1().Nodes()
	node, err := nodes.Get(ctx, n.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && !nodeReady(node)) {
		klog.FromContext(ctx).Info("Node is missing or not Ready, registering it again", "node", n.name)
		if err := k.registerNode(ctx, n); err != nil {
			return err
		}
		node, err = nodes.Get(ctx, n.name, metav1.GetOptions{})
	}
	if err != nil {
		return err
	}
	return k.renewLease(ctx, node)
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// renewLease creates or renews the node's Lease. The Lease is owned by the
// Node, so the garbage collector removes it with the Node.
func (k *Kubelet) renewLease(ctx context.Context, node *corev1.Node) error {
	leases := k.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(k.clock.Now())
	lease, err := leases.Get(ctx, node.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		lease = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: node.Name, Namespace: corev1.NamespaceNodeLease},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(node.Name),
				LeaseDurationSeconds: ptr.To(int32(nodeLeaseDuration / time.Second)),
				RenewTime:            &now,
			},
		}
		if node.UID != "" {
			lease.OwnerReferences = []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID,
			}}
		}
		_, err = leases.Create(ctx, lease, metav1.CreateOptions{FieldManager: fieldManager})
		return err
	}
	if err != nil {
		return err
	}
	lease.Spec.HolderIdentity = ptr.To(node.Name)
	lease.Spec.RenewTime = &now
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{FieldManager: fieldManager})
	return err
}
