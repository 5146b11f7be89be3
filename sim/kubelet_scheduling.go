package sim

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// The simulated kubelet is also its own scheduler: it binds pending pods to
// its nodes. Like a scheduler it honours a pod's nodeSelector, so that
// several kubelets (or a kubelet beside real nodes) can share one
// apiserver without taking each other's pods. Node affinity, taints and
// resources are not looked at; the simulated nodes have no taints and room
// for plenty of pods.

// selects reports whether the pod's nodeSelector matches the node.
func selects(pod *corev1.Pod, n *simNode) bool {
	return labels.SelectorFromValidatedSet(pod.Spec.NodeSelector).Matches(n.labels())
}

// wantsPod reports whether the kubelet may schedule the unbound pod: some
// node of its own matches the pod's nodeSelector and, with
// SelectedPodsOnly, the pod has a nodeSelector at all.
func (k *Kubelet) wantsPod(pod *corev1.Pod) bool {
	if k.opts.SelectedPodsOnly && len(pod.Spec.NodeSelector) == 0 {
		return false
	}
	for _, n := range k.nodes {
		if selects(pod, n) {
			return true
		}
	}
	return false
}

// nodeForBinding picks the node for an unbound pod the kubelet wants: the
// next node in turn that the pod's nodeSelector matches.
func (k *Kubelet) nodeForBinding(pod *corev1.Pod) *simNode {
	for i := range k.nodes {
		at := (k.nextNode + i) % len(k.nodes)
		if n := k.nodes[at]; selects(pod, n) {
			k.nextNode = at + 1
			return n
		}
	}
	return nil
}
