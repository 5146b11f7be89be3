package informers

import (
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// PodFromEvent returns the pod carried by an informer event. Delete events
// may carry a cache.DeletedFinalStateUnknown tombstone when the watch missed
// the deletion and a relist found the pod gone; the last known state inside
// it is still good enough to find the owning Job.
func PodFromEvent(obj interface{}) (*v1.Pod, bool) {
	switch t := obj.(type) {
	case *v1.Pod:
		return t, true
	case cache.DeletedFinalStateUnknown:
		pod, ok := t.Obj.(*v1.Pod)
		return pod, ok
	default:
		return nil, false
	}
}

// JobControllerOf returns the controller owner reference of pod when it points
// at a batch/v1 Job, and nil otherwise. Pods owned by other kinds (a
// ReplicaSet, a JobSet) are never the Job controller's business, even if their
// labels happen to match a Job's selector.
func JobControllerOf(pod *v1.Pod) *metav1.OwnerReference {
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != "Job" || ref.APIVersion != "batch/v1" {
		return nil
	}
	return ref
}

// JobKeyForPod is the workqueue key ("namespace/name") of the Job that
// controls pod, if any. Callers that need certainty that the Job still exists
// with the same UID must check that themselves against the Job lister.
func JobKeyForPod(pod *v1.Pod) (string, bool) {
	ref := JobControllerOf(pod)
	if ref == nil {
		return "", false
	}
	return pod.Namespace + "/" + ref.Name, true
}
