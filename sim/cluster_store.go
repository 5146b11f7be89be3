package sim

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
)

// The storage primitives. Every write of the cluster goes through insert,
// replace or remove, which keep the resourceVersion, the write counter, the
// owner index and the watches in step with what the tracker stores.

// get returns a private copy of the stored object, or a NotFound error.
func (c *Cluster) get(ref objectRef) (runtime.Object, error) {
	return c.fake.Tracker().Get(ref.resource, ref.namespace, ref.name)
}

// getByUID returns the stored object with this uid; false when there is none.
func (c *Cluster) getByUID(uid types.UID) (objectRef, runtime.Object, bool) {
	ref, ok := c.byUID[uid]
	if !ok {
		return objectRef{}, nil, false
	}
	obj, err := c.get(ref)
	if err != nil || objectMeta(obj).GetUID() != uid {
		return objectRef{}, nil, false
	}
	return ref, obj, true
}

// insert stores a new object under ref.
func (c *Cluster) insert(ref objectRef, obj runtime.Object) error {
	m := objectMeta(obj)
	m.SetResourceVersion(c.nextResourceVersion())
	if err := c.fake.Tracker().Create(ref.resource, obj, ref.namespace); err != nil {
		m.SetResourceVersion("")
		return err
	}
	c.committed()
	c.indexObject(ref, m)
	c.watches.publish(c.resourceVersion, ref, watch.Added, obj, nil)
	return nil
}

// replace stores obj in place of old. A write that leaves the object marked
// for deletion with no finalizers and no grace period left removes it, which
// is how removing the last finalizer completes a deletion.
func (c *Cluster) replace(ref objectRef, old, obj runtime.Object) error {
	m := objectMeta(obj)
	if deletionComplete(m) {
		return c.remove(ref, obj)
	}
	m.SetResourceVersion(c.nextResourceVersion())
	if err := c.fake.Tracker().Update(ref.resource, obj, ref.namespace); err != nil {
		return err
	}
	c.committed()
	oldMeta := objectMeta(old)
	c.unindexObject(ref, oldMeta)
	c.indexObject(ref, m)
	c.watches.publish(c.resourceVersion, ref, watch.Modified, obj, old)
	c.ownersReleased(oldMeta, m)
	return nil
}

// remove deletes the stored object; last is its final state, which the
// watch event carries with a new resourceVersion, as the apiserver sends it.
// Then the garbage collector looks at what depended on it.
func (c *Cluster) remove(ref objectRef, last runtime.Object) error {
	if err := c.fake.Tracker().Delete(ref.resource, ref.namespace, ref.name); err != nil {
		return err
	}
	m := objectMeta(last)
	m.SetResourceVersion(c.nextResourceVersion())
	c.committed()
	c.unindexObject(ref, m)
	c.watches.publish(c.resourceVersion, ref, watch.Deleted, last, nil)
	c.collectAfterRemoval(m)
	return nil
}

// deletionComplete reports whether nothing holds a marked object back any
// more: no finalizer, and no grace period a kubelet is still using.
func deletionComplete(m metav1.Object) bool {
	if m.GetDeletionTimestamp() == nil || len(m.GetFinalizers()) > 0 {
		return false
	}
	grace := m.GetDeletionGracePeriodSeconds()
	return grace == nil || *grace == 0
}

// sortRefs orders refs by resource, namespace and name.
func sortRefs(refs []objectRef) {
	slices.SortFunc(refs, func(a, b objectRef) int {
		return cmp.Or(
			cmp.Compare(a.resource.String(), b.resource.String()),
			cmp.Compare(a.namespace, b.namespace),
			cmp.Compare(a.name, b.name))
	})
}

func (c *Cluster) indexObject(ref objectRef, m metav1.Object) {
	c.byUID[m.GetUID()] = ref
	for _, owner := range m.GetOwnerReferences() {
		deps := c.dependents[owner.UID]
		if deps == nil {
			deps = map[objectRef]struct{}{}
			c.dependents[owner.UID] = deps
		}
		deps[ref] = struct{}{}
	}
}

func (c *Cluster) unindexObject(ref objectRef, m metav1.Object) {
	if c.byUID[m.GetUID()] == ref {
		delete(c.byUID, m.GetUID())
	}
	for _, owner := range m.GetOwnerReferences() {
		deps := c.dependents[owner.UID]
		delete(deps, ref)
		if len(deps) == 0 {
			delete(c.dependents, owner.UID)
		}
	}
}

// objectMeta returns the metadata of a typed API object. Every object the
// clientset hands to a reactor has one, so a failure is a programming error
// in the cluster itself.
func objectMeta(obj runtime.Object) metav1.Object {
	m, err := meta.Accessor(obj)
	if err != nil {
		panic(fmt.Sprintf("sim: %T has no object metadata: %v", obj, err))
	}
	return m
}

// metaOf is objectMeta for objects that come from callers, which may be
// anything.
func metaOf(obj runtime.Object) (metav1.Object, error) {
	if obj == nil {
		return nil, fmt.Errorf("no object given")
	}
	return meta.Accessor(obj)
}

// statusField and specField find the Status and Spec of a typed object by
// reflection, so the status subresource and generation work for every kind
// of the scheme without a case per kind. ok is false for kinds without one
// (Events, ConfigMaps).
func statusField(obj runtime.Object) (reflect.Value, bool) { return structField(obj, "Status") }
func specField(obj runtime.Object) (reflect.Value, bool)   { return structField(obj, "Spec") }

func structField(obj runtime.Object, name string) (reflect.Value, bool) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	f := v.Elem().FieldByName(name)
	return f, f.IsValid() && f.CanSet()
}

// copyStatus makes dst's status a copy of src's; false when the kind has none.
func copyStatus(dst, src runtime.Object) bool {
	d, ok := statusField(dst)
	if !ok {
		return false
	}
	s, ok := statusField(src.DeepCopyObject())
	if !ok || s.Type() != d.Type() {
		return false
	}
	d.Set(s)
	return true
}

// specChanged reports whether the two objects differ in spec.
func specChanged(a, b runtime.Object) bool {
	sa, okA := specField(a)
	sb, okB := specField(b)
	if !okA || !okB {
		return false
	}
	return !equality.Semantic.DeepEqual(sa.Interface(), sb.Interface())
}

func hasSpec(obj runtime.Object) bool {
	_, ok := specField(obj)
	return ok
}

// resourceKinds maps every resource of the client-go scheme to its kind, the
// way the fake clientset itself guesses resources from kinds.
func resourceKinds() map[schema.GroupVersionResource]schema.GroupVersionKind {
	kinds := map[schema.GroupVersionResource]schema.GroupVersionKind{}
	for gvk := range scheme.Scheme.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal || strings.HasSuffix(gvk.Kind, "List") {
			continue
		}
		gvr, _ := meta.UnsafeGuessKindToResource(gvk)
		kinds[gvr] = gvk
	}
	return kinds
}

// groupKind names the kind of obj for error messages, such as "Job.batch".
func (c *Cluster) groupKind(ref objectRef) schema.GroupKind {
	if gvk, ok := c.kinds[ref.resource]; ok {
		return gvk.GroupKind()
	}
	return schema.GroupKind{Group: ref.resource.Group, Kind: ref.resource.Resource}
}

// namespaced reports whether objects of the resource live in a namespace:
// every resource does except the built-in cluster-scoped ones below.
func namespaced(gvr schema.GroupVersionResource) bool {
	switch gvr.Resource {
	case "nodes", "namespaces", "persistentvolumes", "storageclasses", "priorityclasses",
		"clusterroles", "clusterrolebindings", "runtimeclasses", "csinodes", "csidrivers",
		"volumeattachments", "ingressclasses", "certificatesigningrequests",
		"mutatingwebhookconfigurations", "validatingwebhookconfigurations":
		return false
	}
	return true
}

// The apiserver appends five characters from this alphabet to a generateName
// prefix; it has no vowels, so generated names never spell words.
const nameSuffixAlphabet = "bcdfghjklmnpqrstvwxz2456789"

// maxGenerateNamePrefix is how much of a generateName the apiserver keeps, so
// that prefix and suffix fit in a 63-character DNS label.
const maxGenerateNamePrefix = 58

func (c *Cluster) generateName(prefix string) string {
	if len(prefix) > maxGenerateNamePrefix {
		prefix = prefix[:maxGenerateNamePrefix]
	}
	suffix := make([]byte, 5)
	for i := range suffix {
		suffix[i] = nameSuffixAlphabet[c.random.IntN(len(nameSuffixAlphabet))]
	}
	return prefix + string(suffix)
}

// newUID returns a random (version 4) UUID drawn from the cluster's generator.
func (c *Cluster) newUID() types.UID {
	var b [16]byte
	for i := range b {
		b[i] = byte(c.random.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return types.UID(h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32])
}

// now is the cluster's time as the API shows it: whole seconds, because
// metav1.Time travels as RFC 3339 without fractions.
func (c *Cluster) now() metav1.Time {
	return metav1.NewTime(c.clock.Now()).Rfc3339Copy()
}
