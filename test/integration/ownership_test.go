package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// longRunning is a Job whose pods run far longer than any test.
func longRunning(name string, parallelism int32) *batchv1.Job {
	job := scripted(name, map[string]string{"sim.kjob.dev/duration": "1h"})
	job.Spec.Parallelism = ptr.To(parallelism)
	job.Spec.Completions = ptr.To(parallelism)
	return job
}

func runningPods(n int) func([]corev1.Pod) bool {
	return func(pods []corev1.Pod) bool {
		running := 0
		for _, p := range pods {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == n
	}
}

// TestDeleteJob deletes a Job with running pods under each propagation
// policy, with the real garbage collector at work: no pod may be left
// holding the job-tracking finalizer, and Orphan leaves the pods running
// without an owner (field reports F13 and F14).
func TestDeleteJob(t *testing.T) {
	client := requireControlPlane(t)
	cases := []struct {
		name        string
		propagation metav1.DeletionPropagation
		// podsRemain: the pods outlive the Job (Orphan); otherwise the
		// garbage collector deletes them.
		podsRemain bool
	}{
		{name: "background", propagation: metav1.DeletePropagationBackground},
		{name: "foreground", propagation: metav1.DeletePropagationForeground},
		{name: "orphan", propagation: metav1.DeletePropagationOrphan, podsRemain: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t, client)
			startController(t, client, ns)
			job := createJob(t, client, ns, longRunning("doomed", 2))
			waitForPods(t, client, ns, "running", runningPods(2))

			err := client.BatchV1().Jobs(ns).Delete(context.Background(), job.Name,
				metav1.DeleteOptions{PropagationPolicy: &tc.propagation})
			require.NoError(t, err)

			if !tc.podsRemain {
				waitForPods(t, client, ns, "deleted", func(pods []corev1.Pod) bool { return len(pods) == 0 })
				return
			}
			pods := waitForPods(t, client, ns, "released", func(pods []corev1.Pod) bool {
				for i := range pods {
					if hasFinalizer(&pods[i]) || len(pods[i].OwnerReferences) > 0 {
						return false
					}
				}
				return true
			})
			assert.Len(t, pods, 2)
			for _, p := range pods {
				assert.Nil(t, p.DeletionTimestamp, "%s: orphaned pods keep running", p.Name)
			}
		})
	}
}

// TestAdoptMatchingOrphan: a pod without an owner whose labels match a
// Job's (manual) selector is adopted, and counts toward the Job, so no
// other pod is created.
func TestAdoptMatchingOrphan(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ns := newNamespace(t, client)
	labels := map[string]string{"app": "adoptee"}

	orphan := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "orphan",
			Labels:      labels,
			Annotations: map[string]string{"sim.kjob.dev/duration": "2s"},
		},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "work", Image: "busybox"}},
		},
	}
	_, err := client.CoreV1().Pods(ns).Create(context.Background(), orphan, metav1.CreateOptions{})
	require.NoError(t, err)

	job := scripted("adopter", map[string]string{"sim.kjob.dev/duration": "2s"})
	job.Spec.ManualSelector = ptr.To(true)
	job.Spec.Selector = &metav1.LabelSelector{MatchLabels: labels}
	job.Spec.Template.Labels = labels
	startController(t, client, ns)
	job = createJob(t, client, ns, job)

	job = waitForJob(t, client, ns, job.Name, "Complete", func(j *batchv1.Job) bool {
		return hasCondition(j, batchv1.JobComplete)
	})
	assert.Equal(t, int32(1), job.Status.Succeeded)
	pods := waitForPods(t, client, ns, "finished without finalizers", noFinalizers)
	require.Len(t, pods, 1, "the adopted pod did the work")
	ref := metav1.GetControllerOf(&pods[0])
	require.NotNil(t, ref, "the orphan was adopted")
	assert.Equal(t, job.UID, ref.UID)
}

// TestReleaseNonMatchingPod: a pod that names the Job as its controller but
// whose labels no longer match the selector is released: the controller
// drops its owner reference and leaves it alone.
func TestReleaseNonMatchingPod(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ns := newNamespace(t, client)
	startController(t, client, ns)
	job := createJob(t, client, ns, longRunning("releaser", 1))
	waitForPods(t, client, ns, "running", runningPods(1))

	stray := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:   "stray",
			Labels: map[string]string{"app": "something-else"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job,
				batchv1.SchemeGroupVersion.WithKind("Job"))},
			Annotations: map[string]string{"sim.kjob.dev/duration": "1h"},
		},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "work", Image: "busybox"}},
		},
	}
	_, err := client.CoreV1().Pods(ns).Create(context.Background(), stray, metav1.CreateOptions{})
	require.NoError(t, err)

	waitForPods(t, client, ns, "released the stray", func(pods []corev1.Pod) bool {
		for _, p := range pods {
			if p.Name == "stray" {
				return len(p.OwnerReferences) == 0
			}
		}
		return false
	})
	job, err = client.BatchV1().Jobs(ns).Get(context.Background(), job.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(1), job.Status.Active, "the released pod is not counted")
}

// TestJobManagedByAnotherController: a Job whose spec.managedBy names
// another controller gets no pod and no status write from this one.
func TestJobManagedByAnotherController(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ns := newNamespace(t, client)
	startController(t, client, ns)

	foreign := scripted("foreign", nil)
	foreign.Spec.ManagedBy = ptr.To("example.com/another-controller")
	foreign = createJob(t, client, ns, foreign)
	// A Job this controller does own, created after the foreign one: once
	// it is Complete, the controller has certainly seen both.
	mine := createJob(t, client, ns, scripted("mine", map[string]string{"sim.kjob.dev/duration": "100ms"}))
	waitForJob(t, client, ns, mine.Name, "Complete", func(j *batchv1.Job) bool {
		return hasCondition(j, batchv1.JobComplete)
	})
	time.Sleep(2 * time.Second) // a batch period and more for any late sync
	assertUntouched(t, client, foreign)
}
