package controller

import (
	"context"
	"encoding/json"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
)

// PodControl is every pod write the Job controller makes. It is an interface
// so tests can count and fail writes, but the real implementation below is
// what the fake-clientset tests use too: they assert the API actions it makes.
type PodControl interface {
	// CreatePod creates pod on behalf of job and records an Event either way.
	CreatePod(ctx context.Context, job *batchv1.Job, pod *v1.Pod) error
	// DeletePod deletes the named pod of job and records an Event when it did.
	DeletePod(ctx context.Context, job *batchv1.Job, pod *v1.Pod) error
	// PatchPod applies a strategic merge patch (finalizer removal, adoption).
	PatchPod(ctx context.Context, namespace, name string, patch []byte) error
}

// RealPodControl talks to the API through a clientset.
type RealPodControl struct {
	Client   kubernetes.Interface
	Recorder record.EventRecorder
}

var _ PodControl = RealPodControl{}

func (r RealPodControl) CreatePod(ctx context.Context, job *batchv1.Job, pod *v1.Pod) error {
	created, err := r.Client.CoreV1().Pods(job.Namespace).Create(ctx, pod, metav1.CreateOptions{FieldManager: FieldManager})
	if err != nil {
		// A namespace being deleted refuses new pods; that is expected and
		// not worth a Warning on a Job that is about to disappear.
		if !apierrors.HasStatusCause(err, v1.NamespaceTerminatingCause) {
			r.Recorder.Eventf(job, v1.EventTypeWarning, EventFailedCreate, "Error creating: %v", err)
		}
		return err
	}
	klog.FromContext(ctx).V(4).Info("Created pod", "job", klog.KObj(job), "pod", klog.KObj(created))
	r.Recorder.Eventf(job, v1.EventTypeNormal, EventSuccessfulCreate, "Created pod: %v", created.Name)
	return nil
}

func (r RealPodControl) DeletePod(ctx context.Context, job *batchv1.Job, pod *v1.Pod) error {
	err := r.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil {
		if !apierrors.IsNotFound(err) {
			r.Recorder.Eventf(job, v1.EventTypeWarning, EventFailedDelete, "Error deleting: %v", err)
		}
		return err
	}
	r.Recorder.Eventf(job, v1.EventTypeNormal, EventSuccessfulDelete, "Deleted pod: %v", pod.Name)
	return nil
}

func (r RealPodControl) PatchPod(ctx context.Context, namespace, name string, patch []byte) error {
	_, err := r.Client.CoreV1().Pods(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch,
		metav1.PatchOptions{FieldManager: FieldManager})
	return err
}

// removeFinalizerPatch drops the tracking finalizer and nothing else. The UID
// in the patch makes it fail on a different pod that reuses the name.
func removeFinalizerPatch(pod *v1.Pod) []byte {
	if !hasTrackingFinalizer(pod) {
		return nil
	}
	patch := map[string]any{"metadata": map[string]any{
		"$deleteFromPrimitiveList/finalizers": []string{JobTrackingFinalizer},
		"uid":                                 pod.UID,
	}}
	b, _ := json.Marshal(patch) // a map of strings always marshals
	return b
}

// newPodForJob builds the pod the Job's template describes, owned by the Job
// and carrying the tracking finalizer from its very first version.
func newPodForJob(job *batchv1.Job) *v1.Pod {
	tmpl := job.Spec.Template.DeepCopy()
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    podNamePrefix(job.Name),
			Namespace:       job.Namespace,
			Labels:          tmpl.Labels,
			Annotations:     tmpl.Annotations,
			Finalizers:      append(tmpl.Finalizers, JobTrackingFinalizer),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))},
		},
		Spec: tmpl.Spec,
	}
	return pod
}

// podNamePrefix is "<job>-", the generateName the apiserver completes with
// five random characters. The apiserver cuts long prefixes itself.
func podNamePrefix(jobName string) string {
	return fmt.Sprintf("%s-", jobName)
}
