package integration

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/controller"
)

// TestHelloJob is the seed tutorial on a real apiserver: 16 completions, 4
// at a time, each pod running its command on the simulated kubelet.
func TestHelloJob(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ns := newNamespace(t, client)
	startController(t, client, ns)

	job := createJob(t, client, ns, loadJob(t, "hello-job.yaml"))
	job = waitForJob(t, client, ns, job.Name, "Complete", func(j *batchv1.Job) bool {
		return hasCondition(j, batchv1.JobComplete)
	})

	assert.Equal(t, int32(16), job.Status.Succeeded)
	assert.Equal(t, int32(0), job.Status.Failed)
	assert.Equal(t, int32(0), job.Status.Active)
	assert.Equal(t, ptr.To[int32](0), job.Status.Ready)
	assert.Equal(t, ptr.To[int32](0), job.Status.Terminating)
	require.NotNil(t, job.Status.StartTime)
	require.NotNil(t, job.Status.CompletionTime)
	assert.Equal(t, conditionOf(job, batchv1.JobComplete).LastTransitionTime, *job.Status.CompletionTime)
	assert.NotNil(t, conditionOf(job, batchv1.JobSuccessCriteriaMet), "SuccessCriteriaMet comes before Complete")
	assert.Empty(t, job.Status.UncountedTerminatedPods.Succeeded)
	assert.Empty(t, job.Status.UncountedTerminatedPods.Failed)

	pods, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, pods.Items, 16, "exactly one pod per completion")
	for _, p := range pods.Items {
		assert.Equal(t, corev1.PodSucceeded, p.Status.Phase, p.Name)
		assert.False(t, hasFinalizer(&p), "%s keeps the tracking finalizer", p.Name)
		ref := metav1.GetControllerOf(&p)
		require.NotNil(t, ref, p.Name)
		assert.Equal(t, job.UID, ref.UID)
		assert.Equal(t, job.Name, p.Labels[batchv1.JobNameLabel])
		assert.NotEmpty(t, p.Spec.NodeName, "%s was bound to a simulated node", p.Name)
	}
}

// TestBackoffLimitExceeded: every pod exits 1; with backoffLimit 2 the
// third failure fails the Job, after replacements 10 s and 20 s apart.
func TestBackoffLimitExceeded(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ns := newNamespace(t, client)
	startController(t, client, ns)

	job := loadJob(t, "failing-job.yaml")
	job.Spec.Template.Annotations["sim.kjob.dev/duration"] = "100ms"
	job = createJob(t, client, ns, job)
	job = waitForJob(t, client, ns, job.Name, "Failed", func(j *batchv1.Job) bool {
		return hasCondition(j, batchv1.JobFailed)
	})

	assert.Equal(t, int32(3), job.Status.Failed, "backoffLimit + 1 failures")
	assert.Equal(t, int32(0), job.Status.Succeeded)
	assert.Equal(t, int32(0), job.Status.Active)
	assert.Equal(t, controller.ReasonBackoffLimitExceeded, conditionOf(job, batchv1.JobFailed).Reason)
	assert.NotNil(t, conditionOf(job, batchv1.JobFailureTarget), "FailureTarget comes before Failed")

	pods := waitForPods(t, client, ns, "lost their finalizers", noFinalizers)
	require.Len(t, pods, 3, "no replacement after the limit")

	// Upstream's TestJobPodsCreatedWithExponentialBackoff: the n-th
	// replacement comes within [base·2^(n-1), base·2^n) of the failure
	// before it. Timestamps are whole seconds on a real apiserver.
	sort.Slice(pods, func(i, j int) bool { return pods[i].CreationTimestamp.Before(&pods[j].CreationTimestamp) })
	for n := 1; n < len(pods); n++ {
		finished := pods[n-1].Status.ContainerStatuses[0].State.Terminated.FinishedAt
		gap := pods[n].CreationTimestamp.Sub(finished.Time)
		low := controller.PodFailureBackoffBase << (n - 1)
		assert.True(t, gap >= low-time.Second && gap < 2*low+time.Second,
			"replacement %d came %v after the failure, want [%v, %v)", n, gap, low, 2*low)
	}
}
