package sim

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	policyv1beta1 "k8s.io/api/policy/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// The two pod subresources a kubelet or a scheduler writes to.

// evict handles pods/eviction: a pod that is still running is marked with
// the DisruptionTarget condition, so a Job's pod failure policy can tell an
// eviction from a crash, and then deleted gracefully. PodDisruptionBudgets
// are not simulated.
func (c *Cluster) evict(ref objectRef, obj runtime.Object) error {
	var opts *metav1.DeleteOptions
	switch e := obj.(type) {
	case *policyv1.Eviction:
		ref.name, opts = e.Name, e.DeleteOptions
	case *policyv1beta1.Eviction:
		ref.name, opts = e.Name, e.DeleteOptions
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("an eviction must be a policy Eviction, not %T", obj))
	}
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	stored, err := c.get(ref)
	if err != nil {
		return err
	}
	pod, ok := stored.(*corev1.Pod)
	if !ok {
		return unsupportedSubresource(ref, "eviction")
	}
	if pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
		marked := pod.DeepCopy()
		setPodCondition(&marked.Status, corev1.PodCondition{
			Type:               corev1.DisruptionTarget,
			Status:             corev1.ConditionTrue,
			Reason:             "EvictionByEvictionAPI",
			Message:            "Eviction API: evicting",
			LastTransitionTime: c.now(),
		})
		if _, err := c.update(ref, pod, marked, true); err != nil {
			return err
		}
	}
	return c.deleteObject(ref, *opts)
}

// bind handles pods/binding, the scheduler's way of placing a pod on a node.
func (c *Cluster) bind(ref objectRef, obj runtime.Object) error {
	b, ok := obj.(*corev1.Binding)
	if !ok {
		return apierrors.NewBadRequest(fmt.Sprintf("a binding must be a core Binding, not %T", obj))
	}
	ref.name = b.Name
	if ref.namespace == "" {
		// The fake clientset takes the namespace of a binding from the
		// binding object, not from the client it was called on.
		ref.namespace = b.Namespace
	}
	stored, err := c.get(ref)
	if err != nil {
		return err
	}
	pod, ok := stored.(*corev1.Pod)
	if !ok {
		return unsupportedSubresource(ref, "binding")
	}
	if b.UID != "" && b.UID != pod.UID {
		return apierrors.NewConflict(ref.resource.GroupResource(), ref.name,
			fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", b.UID, pod.UID))
	}
	if pod.DeletionTimestamp != nil {
		return apierrors.NewConflict(ref.resource.GroupResource(), ref.name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", ref.name))
	}
	if pod.Spec.NodeName != "" {
		return apierrors.NewConflict(ref.resource.GroupResource(), ref.name, fmt.Errorf("pod %s is already assigned to node %q", ref.name, pod.Spec.NodeName))
	}
	bound := pod.DeepCopy()
	bound.Spec.NodeName = b.Target.Name
	setPodCondition(&bound.Status, corev1.PodCondition{
		Type:               corev1.PodScheduled,
		Status:             corev1.ConditionTrue,
		LastTransitionTime: c.now(),
	})
	return c.replace(ref, pod, bound)
}

// setPodCondition adds cond, or replaces the condition of the same type.
func setPodCondition(status *corev1.PodStatus, cond corev1.PodCondition) {
	for i := range status.Conditions {
		if status.Conditions[i].Type == cond.Type {
			status.Conditions[i] = cond
			return
		}
	}
	status.Conditions = append(status.Conditions, cond)
}
