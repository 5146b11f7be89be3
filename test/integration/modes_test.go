package integration

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/controller"
)

// TestNonParallelJob (upstream's name): one pod at a time; the first fails
// and is replaced, the controller restarts, the replacement succeeds.
func TestNonParallelJob(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ns := newNamespace(t, client)
	first := startController(t, client, ns)

	// Attempts are numbered across the Job's pods: the first pod exits 1,
	// every later one 0.
	job := createJob(t, client, ns, scripted("non-parallel", map[string]string{
		"sim.kjob.dev/duration":   "200ms",
		"sim.kjob.dev/exit-codes": "1,0",
	}))
	waitForJob(t, client, ns, job.Name, "one failure", func(j *batchv1.Job) bool { return j.Status.Failed == 1 })
	first.stop()
	startController(t, client, ns)

	job = waitForJob(t, client, ns, job.Name, "Complete", func(j *batchv1.Job) bool {
		return hasCondition(j, batchv1.JobComplete)
	})
	assert.Equal(t, int32(1), job.Status.Succeeded)
	assert.Equal(t, int32(1), job.Status.Failed)
	pods := waitForPods(t, client, ns, "finished without finalizers", noFinalizers)
	assert.Len(t, pods, 2, "one replacement, no more")
}

// TestJobFailedWithInterrupts (upstream's name): with backoffLimit 0, one
// pod fails and nine succeed while the controller is down; the restarted
// controller counts them all and fails the Job.
func TestJobFailedWithInterrupts(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ns := newNamespace(t, client)
	first := startController(t, client, ns)

	job := scripted("interrupted", map[string]string{
		"sim.kjob.dev/duration":   "3s",
		"sim.kjob.dev/exit-codes": "1,0",
	})
	job.Spec.Completions = ptr.To[int32](10)
	job.Spec.Parallelism = ptr.To[int32](10)
	job.Spec.BackoffLimit = ptr.To[int32](0)
	job = createJob(t, client, ns, job)
	waitForJob(t, client, ns, job.Name, "ten active pods", func(j *batchv1.Job) bool { return j.Status.Active == 10 })
	first.stop()
	waitForPods(t, client, ns, "all finished while the controller is down", func(pods []corev1.Pod) bool {
		finished := 0
		for _, p := range pods {
			if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				finished++
			}
		}
		return finished == 10
	})
	startController(t, client, ns)

	job = waitForJob(t, client, ns, job.Name, "Failed", func(j *batchv1.Job) bool {
		return hasCondition(j, batchv1.JobFailed)
	})
	assert.Equal(t, controller.ReasonBackoffLimitExceeded, conditionOf(job, batchv1.JobFailed).Reason)
	assert.Equal(t, int32(1), job.Status.Failed)
	assert.Equal(t, int32(9), job.Status.Succeeded, "the successes are still counted")
	assert.Equal(t, int32(0), job.Status.Active)
	pods := waitForPods(t, client, ns, "finished without finalizers", noFinalizers)
	assert.Len(t, pods, 10, "no pod created after the failure")
}

// TestOrphanPodsFinalizersClearedOnRestart (upstream's name): a Job deleted
// while the controller is down leaves pods that only the controller can
// release; the restarted controller does.
func TestOrphanPodsFinalizersClearedOnRestart(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ns := newNamespace(t, client)
	first := startController(t, client, ns)
	job := createJob(t, client, ns, longRunning("deleted-while-down", 2))
	waitForPods(t, client, ns, "running", runningPods(2))
	first.stop()

	background := metav1.DeletePropagationBackground
	require.NoError(t, client.BatchV1().Jobs(ns).Delete(context.Background(), job.Name,
		metav1.DeleteOptions{PropagationPolicy: &background}))
	waitForPods(t, client, ns, "deleted but held by the tracking finalizer", func(pods []corev1.Pod) bool {
		for _, p := range pods {
			if p.DeletionTimestamp == nil || !hasFinalizer(&p) {
				return false
			}
		}
		return len(pods) == 2
	})
	startController(t, client, ns)
	waitForPods(t, client, ns, "gone", func(pods []corev1.Pod) bool { return len(pods) == 0 })
}

// TestParallelJobChangingParallelism (upstream's name): a work-queue Job is
// scaled 5 → 2 → 4. The pods deleted to scale down are not failures.
func TestParallelJobChangingParallelism(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ns := newNamespace(t, client)
	startController(t, client, ns)
	job := scripted("elastic", map[string]string{"sim.kjob.dev/duration": "1h"})
	job.Spec.Parallelism = ptr.To[int32](5)
	job = createJob(t, client, ns, job)

	for _, parallelism := range []int32{5, 2, 4} {
		setParallelism(t, client, ns, job.Name, parallelism)
		got := waitForJob(t, client, ns, job.Name, fmt.Sprintf("active=%d", parallelism), func(j *batchv1.Job) bool {
			return j.Status.Active == parallelism && ptr.Deref(j.Status.Terminating, 0) == 0
		})
		assert.Equal(t, int32(0), got.Status.Failed, "parallelism %d: scale-down is not failure", parallelism)
		assert.Empty(t, got.Status.Conditions)
	}
}

func setParallelism(t *testing.T, client kubernetes.Interface, ns, name string, n int32) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"parallelism":%d}}`, n)
	_, err := client.BatchV1().Jobs(ns).Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	require.NoError(t, err)
}
