// Package informers wires client-go shared informers for the Job controller:
// one factory for Jobs and Pods, an index of pods by the UID of their
// controller, a transform that keeps the caches small, and the small helpers
// event handlers need to map a Pod back to the Job that owns it.
//
// Nothing here knows about Job semantics; the controller package registers its
// own handlers and uses these pieces to find the right key to enqueue.
package informers

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// NewFactory returns a shared informer factory whose caches drop
// managedFields. The controller never reads them, and on a busy cluster they
// are often the largest part of every object held in memory.
//
// resync 0 disables periodic resyncs: the controller reacts to changes and to
// its own timers (AddAfter), never to a periodic replay of the whole cache.
// Further options (informers.WithNamespace, say) are applied after the
// transform.
func NewFactory(client kubernetes.Interface, resync time.Duration, opts ...informers.SharedInformerOption) informers.SharedInformerFactory {
	opts = append([]informers.SharedInformerOption{informers.WithTransform(DropManagedFields)}, opts...)
	return informers.NewSharedInformerFactoryWithOptions(client, resync, opts...)
}

// DropManagedFields is a cache.TransformFunc that clears metadata.managedFields.
// Tombstones and non-objects pass through untouched.
func DropManagedFields(obj interface{}) (interface{}, error) {
	if accessor, err := meta.Accessor(obj); err == nil && accessor.GetManagedFields() != nil {
		accessor.SetManagedFields(nil)
	}
	return obj, nil
}

var _ cache.TransformFunc = DropManagedFields
