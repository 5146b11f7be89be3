package sim

import (
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// The garbage collector, following kube-controller-manager's rules but run
// synchronously inside the write that triggers it, so a simulation never
// waits for it and never sees it lag:
//
//   - Background: once an owner is removed, each dependent whose owners are
//     all gone is deleted (gracefully, like any delete). A dependent that
//     still has another owner only loses the reference to the removed one.
//   - Foreground: the owner stays, marked and holding the foregroundDeletion
//     finalizer, while its dependents are deleted; it is removed when no
//     dependent with blockOwnerDeletion is left.
//   - Orphan: the owner holds the orphan finalizer until every dependent has
//     lost its reference to it; then it is removed.
//
// A dependent created with a reference to an owner that does not exist (a
// pod created just after its Job was deleted) is collected at once.

// runFinalizers does the garbage collector's work for the policy finalizer
// that an object being deleted carries.
func (c *Cluster) runFinalizers(uid types.UID) {
	ref, obj, ok := c.getByUID(uid)
	if !ok {
		return
	}
	m := objectMeta(obj)
	if m.GetDeletionTimestamp() == nil {
		return
	}
	switch {
	case hasFinalizer(m, metav1.FinalizerOrphanDependents):
		for _, dep := range c.dependentsOf(uid) {
			c.dropOwnerReferences(dep, func(o metav1.OwnerReference) bool { return o.UID == uid })
		}
		c.dropFinalizer(ref, metav1.FinalizerOrphanDependents)
	case hasFinalizer(m, metav1.FinalizerDeleteDependents):
		for _, dep := range c.dependentsOf(uid) {
			c.collectDependent(dep)
		}
		c.finishForegroundDeletion(uid)
	}
}

// collectAfterRemoval runs when an object has been removed: its dependents
// may now be garbage, and an owner in foreground deletion may have been
// waiting for it.
func (c *Cluster) collectAfterRemoval(removed metav1.Object) {
	for _, dep := range c.dependentsOf(removed.GetUID()) {
		c.collectDependent(dep)
	}
	for _, owner := range removed.GetOwnerReferences() {
		c.finishForegroundDeletion(owner.UID)
	}
}

// ownersReleased runs after an update: an owner in foreground deletion may
// have been waiting for a dependent that has just dropped its reference.
func (c *Cluster) ownersReleased(oldMeta, newMeta metav1.Object) {
	if reflect.DeepEqual(oldMeta.GetOwnerReferences(), newMeta.GetOwnerReferences()) {
		return
	}
	for _, owner := range oldMeta.GetOwnerReferences() {
		c.finishForegroundDeletion(owner.UID)
	}
}

// collectNewDependent checks the owners of an object just created.
func (c *Cluster) collectNewDependent(ref objectRef, m metav1.Object) {
	if len(m.GetOwnerReferences()) > 0 {
		c.collectDependent(ref)
	}
}

// collectDependent decides about one dependent from the state of its owners:
// solid (stored and not waiting for its dependents), waiting (in foreground
// deletion) or gone. With no solid owner left the dependent is deleted;
// otherwise only its references to waiting and gone owners are dropped.
func (c *Cluster) collectDependent(ref objectRef) {
	obj, err := c.get(ref)
	if err != nil {
		return
	}
	m := objectMeta(obj)
	solid, waiting := 0, 0
	for _, o := range m.GetOwnerReferences() {
		switch c.ownerState(o.UID) {
		case ownerSolid:
			solid++
		case ownerWaiting:
			waiting++
		}
	}
	if solid == len(m.GetOwnerReferences()) {
		return
	}
	if solid > 0 {
		c.dropOwnerReferences(ref, func(o metav1.OwnerReference) bool { return c.ownerState(o.UID) != ownerSolid })
		return
	}
	// Under a foreground deletion, a dependent with dependents of its own is
	// deleted in the foreground too, so the wait reaches down the tree.
	policy := metav1.DeletePropagationBackground
	if waiting > 0 && len(c.dependents[m.GetUID()]) > 0 {
		policy = metav1.DeletePropagationForeground
	}
	if err := c.deleteObject(ref, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
		klog.Background().Error(err, "Garbage collector could not delete a dependent", "resource", ref.resource.Resource, "namespace", ref.namespace, "name", ref.name)
	}
}

type ownerState int

const (
	ownerGone ownerState = iota
	ownerWaiting
	ownerSolid
)

func (c *Cluster) ownerState(uid types.UID) ownerState {
	_, owner, ok := c.getByUID(uid)
	switch {
	case !ok:
		return ownerGone
	case waitingForDependents(objectMeta(owner)):
		return ownerWaiting
	default:
		return ownerSolid
	}
}

func waitingForDependents(m metav1.Object) bool {
	return m.GetDeletionTimestamp() != nil && hasFinalizer(m, metav1.FinalizerDeleteDependents)
}

// finishForegroundDeletion removes the foregroundDeletion finalizer from an
// owner once none of its dependents blocks it any more.
func (c *Cluster) finishForegroundDeletion(uid types.UID) {
	ref, obj, ok := c.getByUID(uid)
	if !ok || !waitingForDependents(objectMeta(obj)) {
		return
	}
	for _, dep := range c.dependentsOf(uid) {
		depObj, err := c.get(dep)
		if err != nil {
			continue
		}
		for _, o := range objectMeta(depObj).GetOwnerReferences() {
			if o.UID == uid && o.BlockOwnerDeletion != nil && *o.BlockOwnerDeletion {
				return
			}
		}
	}
	c.dropFinalizer(ref, metav1.FinalizerDeleteDependents)
}

// dependentsOf lists the dependents of uid, in a stable order: collecting one
// dependent may change the index, and the order of garbage collection shows
// in the watch events a simulation prints.
func (c *Cluster) dependentsOf(uid types.UID) []objectRef {
	deps := make([]objectRef, 0, len(c.dependents[uid]))
	for ref := range c.dependents[uid] {
		deps = append(deps, ref)
	}
	sortRefs(deps)
	return deps
}

// dropOwnerReferences removes the references for which drop is true.
func (c *Cluster) dropOwnerReferences(ref objectRef, drop func(metav1.OwnerReference) bool) {
	obj, err := c.get(ref)
	if err != nil {
		return
	}
	updated := obj.DeepCopyObject()
	m := objectMeta(updated)
	var kept []metav1.OwnerReference
	for _, o := range m.GetOwnerReferences() {
		if !drop(o) {
			kept = append(kept, o)
		}
	}
	if len(kept) == len(m.GetOwnerReferences()) {
		return
	}
	m.SetOwnerReferences(kept)
	if err := c.replace(ref, obj, updated); err != nil {
		klog.Background().Error(err, "Garbage collector could not drop owner references", "resource", ref.resource.Resource, "namespace", ref.namespace, "name", ref.name)
	}
}

// dropFinalizer takes one finalizer off a stored object; the write removes the
// object if that was the last thing holding it.
func (c *Cluster) dropFinalizer(ref objectRef, finalizer string) {
	obj, err := c.get(ref)
	if err != nil || !hasFinalizer(objectMeta(obj), finalizer) {
		return
	}
	updated := obj.DeepCopyObject()
	removeFinalizer(objectMeta(updated), finalizer)
	if err := c.replace(ref, obj, updated); err != nil {
		klog.Background().Error(err, "Garbage collector could not remove a finalizer", "finalizer", finalizer, "resource", ref.resource.Resource, "namespace", ref.namespace, "name", ref.name)
	}
}
