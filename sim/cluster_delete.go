package sim

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clienttesting "k8s.io/client-go/testing"
)

// Deletion as the apiserver does it. A delete either removes the object at
// once, or marks it (deletionTimestamp, deletionGracePeriodSeconds) and
// leaves it stored until its finalizers are gone and, for a pod, until the
// kubelet confirms with a delete without grace period. The propagation policy
// becomes a finalizer the garbage collector acts on (gc.go).

// defaultPodGracePeriod is used when neither the request nor the pod's
// terminationGracePeriodSeconds gives one.
const defaultPodGracePeriod int64 = 30

func (c *Cluster) reactDelete(action clienttesting.Action) (bool, runtime.Object, error) {
	a, ok := action.(clienttesting.DeleteActionImpl)
	if !ok {
		return false, nil, nil
	}
	ref := objectRef{resource: a.GetResource(), namespace: a.GetNamespace(), name: a.GetName()}
	if a.GetSubresource() != "" {
		return true, nil, unsupportedSubresource(ref, a.GetSubresource())
	}
	return true, nil, c.deleteObject(ref, a.GetDeleteOptions())
}

func (c *Cluster) reactDeleteCollection(action clienttesting.Action) (bool, runtime.Object, error) {
	a, ok := action.(clienttesting.DeleteCollectionActionImpl)
	if !ok {
		return false, nil, nil
	}
	ref := objectRef{resource: a.GetResource(), namespace: a.GetNamespace()}
	objs, err := c.listMatching(ref, a.ListOptions)
	if err != nil {
		return true, nil, err
	}
	for _, obj := range objs {
		ref.name = objectMeta(obj).GetName()
		if err := c.deleteObject(ref, a.GetDeleteOptions()); err != nil && !apierrors.IsNotFound(err) {
			return true, nil, err
		}
	}
	return true, nil, nil
}

// deleteObject deletes or marks one object, then lets the garbage collector
// act on the finalizers the propagation policy asked for.
func (c *Cluster) deleteObject(ref objectRef, opts metav1.DeleteOptions) error {
	obj, err := c.get(ref)
	if err != nil {
		return err
	}
	if err := checkPreconditions(ref, objectMeta(obj), opts.Preconditions); err != nil {
		return err
	}
	policy, explicit, err := propagationPolicy(ref, opts)
	if err != nil {
		return err
	}
	grace, err := deletionGracePeriod(obj, opts)
	if err != nil {
		return err
	}

	marked := obj.DeepCopyObject()
	m := objectMeta(marked)
	finalizersChanged := setPolicyFinalizers(m, policy, explicit)
	now := c.clock.Now()
	switch {
	case m.GetDeletionTimestamp() == nil:
		if grace == 0 && len(m.GetFinalizers()) == 0 {
			return c.remove(ref, marked)
		}
		deadline := metav1.NewTime(now.Add(time.Duration(grace) * time.Second)).Rfc3339Copy()
		m.SetDeletionTimestamp(&deadline)
		m.SetDeletionGracePeriodSeconds(&grace)
		// Being deleted changes what a controller should do with the
		// object, so the apiserver bumps its generation.
		if m.GetGeneration() > 0 {
			m.SetGeneration(m.GetGeneration() + 1)
		}
	case grace < currentGracePeriod(m):
		// Another delete may shorten the grace period (the kubelet's final
		// delete sets it to zero) but never lengthen it, and the deadline
		// never moves later.
		m.SetDeletionGracePeriodSeconds(&grace)
		if deadline := metav1.NewTime(now.Add(time.Duration(grace) * time.Second)).Rfc3339Copy(); deadline.Before(m.GetDeletionTimestamp()) {
			m.SetDeletionTimestamp(&deadline)
		}
	case !finalizersChanged:
		return nil
	}
	// replace removes the object right away when nothing holds it any more.
	if err := c.replace(ref, obj, marked); err != nil {
		return err
	}
	c.runFinalizers(m.GetUID())
	return nil
}

func checkPreconditions(ref objectRef, m metav1.Object, p *metav1.Preconditions) error {
	if p == nil {
		return nil
	}
	gr := ref.resource.GroupResource()
	if p.UID != nil && *p.UID != m.GetUID() {
		return apierrors.NewConflict(gr, ref.name,
			fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, m.GetUID()))
	}
	if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
		return apierrors.NewConflict(gr, ref.name,
			fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, m.GetResourceVersion()))
	}
	return nil
}

// propagationPolicy returns the policy a delete asks for, and whether it
// asked at all. Without one, batch/v1 Jobs orphan their pods: a legacy
// default the apiserver keeps for compatibility (kubectl and the TTL
// controller ask for Background explicitly). Everything else defaults to
// Background.
func propagationPolicy(ref objectRef, opts metav1.DeleteOptions) (metav1.DeletionPropagation, bool, error) {
	if opts.PropagationPolicy != nil && opts.OrphanDependents != nil {
		return "", false, apierrors.NewBadRequest("orphanDependents and propagationPolicy cannot both be set")
	}
	if p := opts.PropagationPolicy; p != nil {
		switch *p {
		case metav1.DeletePropagationOrphan, metav1.DeletePropagationBackground, metav1.DeletePropagationForeground:
			return *p, true, nil
		}
		return "", false, apierrors.NewBadRequest(fmt.Sprintf("propagationPolicy %q is not one of Orphan, Background, Foreground", *p))
	}
	if o := opts.OrphanDependents; o != nil {
		if *o {
			return metav1.DeletePropagationOrphan, true, nil
		}
		return metav1.DeletePropagationBackground, true, nil
	}
	if ref.resource == batchv1.SchemeGroupVersion.WithResource("jobs") {
		return metav1.DeletePropagationOrphan, false, nil
	}
	return metav1.DeletePropagationBackground, false, nil
}

// setPolicyFinalizers puts the finalizer for policy on an object being
// deleted, takes off the one for the other policy, and reports whether the
// finalizers changed. A delete without an explicit policy keeps what an
// earlier delete asked for.
func setPolicyFinalizers(m metav1.Object, policy metav1.DeletionPropagation, explicit bool) bool {
	orphan, foreground := metav1.FinalizerOrphanDependents, metav1.FinalizerDeleteDependents
	if !explicit && (hasFinalizer(m, orphan) || hasFinalizer(m, foreground)) {
		return false
	}
	want := ""
	switch policy {
	case metav1.DeletePropagationOrphan:
		want = orphan
	case metav1.DeletePropagationForeground:
		want = foreground
	}
	changed := false
	for _, f := range []string{orphan, foreground} {
		if f != want && hasFinalizer(m, f) {
			removeFinalizer(m, f)
			changed = true
		}
	}
	if want != "" && !hasFinalizer(m, want) {
		m.SetFinalizers(append(m.GetFinalizers(), want))
		changed = true
	}
	return changed
}

// deletionGracePeriod is how long a deleted object may take to shut down. Only pods
// have one; a pod that never reached a node, or already finished, has
// nothing to shut down and goes at once.
func deletionGracePeriod(obj runtime.Object, opts metav1.DeleteOptions) (int64, error) {
	if g := opts.GracePeriodSeconds; g != nil && *g < 0 {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("gracePeriodSeconds must not be negative, got %d", *g))
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return 0, nil
	}
	grace := defaultPodGracePeriod
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	if g := opts.GracePeriodSeconds; g != nil {
		grace = *g
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		grace = 0
	}
	return max(grace, 0), nil
}

func currentGracePeriod(m metav1.Object) int64 {
	if g := m.GetDeletionGracePeriodSeconds(); g != nil {
		return *g
	}
	return 0
}

func hasFinalizer(m metav1.Object, name string) bool {
	for _, f := range m.GetFinalizers() {
		if f == name {
			return true
		}
	}
	return false
}

func removeFinalizer(m metav1.Object, name string) {
	var kept []string
	for _, f := range m.GetFinalizers() {
		if f != name {
			kept = append(kept, f)
		}
	}
	m.SetFinalizers(kept)
}
