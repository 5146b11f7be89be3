package informers

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// PodsByControllerIndex is the name of the pod index whose keys are the UID of
// a pod's controller, or "orphan/<namespace>" for pods without one.
//
// Indexing by UID instead of by name means a Job that is deleted and
// re-created under the same name never sees the pods of its predecessor.
const PodsByControllerIndex = "pods-by-controller-uid"

// OrphanIndexKey is the index key under which pods without a controller in a
// namespace are stored: candidates for adoption.
func OrphanIndexKey(namespace string) string { return "orphan/" + namespace }

// AddPodIndexers registers PodsByControllerIndex on a pod informer. It must
// be called before the informer starts.
func AddPodIndexers(podInformer cache.SharedIndexInformer) error {
	return podInformer.AddIndexers(cache.Indexers{PodsByControllerIndex: podControllerKeys})
}

func podControllerKeys(obj interface{}) ([]string, error) {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return nil, fmt.Errorf("expected *v1.Pod, got %T", obj)
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		return []string{string(ref.UID)}, nil
	}
	return []string{OrphanIndexKey(pod.Namespace)}, nil
}

// PodsControlledBy returns the cached pods whose controller has the given UID.
// The returned pods belong to the cache: callers must not modify them.
func PodsControlledBy(indexer cache.Indexer, uid types.UID) ([]*v1.Pod, error) {
	return podsFromIndex(indexer, string(uid))
}

// OrphanPods returns the cached pods in namespace that have no controller.
func OrphanPods(indexer cache.Indexer, namespace string) ([]*v1.Pod, error) {
	return podsFromIndex(indexer, OrphanIndexKey(namespace))
}

func podsFromIndex(indexer cache.Indexer, key string) ([]*v1.Pod, error) {
	return fromIndex[*v1.Pod](indexer, PodsByControllerIndex, key)
}

// fromIndex returns the objects of type T stored under key in the named
// index. They belong to the cache: callers must not modify them.
func fromIndex[T any](indexer cache.Indexer, index, key string) ([]T, error) {
	objs, err := indexer.ByIndex(index, key)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(objs))
	for _, obj := range objs {
		if o, ok := obj.(T); ok {
			out = append(out, o)
		}
	}
	return out, nil
}
