package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/controller"
)

// A Job deleted and created again under the same name (field report F16,
// upstream's TestManagedBy_RecreatedJob): whatever the controller queued
// for the first Job fires for the name, and must not act on the second
// Job as if it were the first.

// runThenDelete creates job, waits until its pod runs and for runFor more,
// then deletes it in the background and waits until it is gone.
func runThenDelete(t *testing.T, client kubernetes.Interface, ns string, job *batchv1.Job, runFor time.Duration) *batchv1.Job {
	t.Helper()
	created := createJob(t, client, ns, job)
	waitForPods(t, client, ns, "running", runningPods(1))
	time.Sleep(runFor)
	err := client.BatchV1().Jobs(ns).Delete(context.Background(), created.Name, metav1.DeleteOptions{
		PropagationPolicy: ptr.To(metav1.DeletePropagationBackground),
		Preconditions:     &metav1.Preconditions{UID: &created.UID},
	})
	require.NoError(t, err)
	waitForJobGone(t, client, ns, created.Name)
	return created
}

// TestRecreatedJobDeadline is field report F16 on a real apiserver: a Job
// with a 6 s deadline is deleted after 2 s and created again under the same
// name. The first Job's deadline timer still fires; the new Job must fail
// at its own startTime + 6 s, neither earlier nor never.
func TestRecreatedJobDeadline(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ns := newNamespace(t, client)
	startController(t, client, ns)

	job := longRunning("again", 1)
	job.Spec.ActiveDeadlineSeconds = ptr.To[int64](6)
	first := runThenDelete(t, client, ns, job, 2*time.Second)

	second := createJob(t, client, ns, job)
	require.NotEqual(t, first.UID, second.UID)
	second = waitForJob(t, client, ns, second.Name, "Failed", func(j *batchv1.Job) bool {
		return j.UID == second.UID && hasCondition(j, batchv1.JobFailed)
	})
	target := conditionOf(second, batchv1.JobFailureTarget)
	require.NotNil(t, target)
	assert.Equal(t, controller.ReasonDeadlineExceeded, target.Reason)
	assert.GreaterOrEqual(t, target.LastTransitionTime.Sub(second.Status.StartTime.Time), 6*time.Second,
		"not failed by the first Job's timer")
	assert.Equal(t, int32(1), second.Status.Failed, "its own pod only")
}

// TestManagedBy_RecreatedJob: a Job of this controller, with a deadline
// timer queued, is deleted and created again under the same name for
// another controller. Nothing queued for the first may touch the second.
func TestManagedBy_RecreatedJob(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ns := newNamespace(t, client)
	startController(t, client, ns)

	job := longRunning("handed-over", 1)
	job.Spec.ActiveDeadlineSeconds = ptr.To[int64](3)
	runThenDelete(t, client, ns, job, 0)

	job.Spec.ManagedBy = ptr.To("example.com/another-controller")
	second := createJob(t, client, ns, job)
	time.Sleep(5 * time.Second) // past the first Job's deadline and a batch period
	assertUntouched(t, client, second)
}

// assertUntouched checks that the controller never wrote job nor made a
// pod for it.
func assertUntouched(t *testing.T, client kubernetes.Interface, job *batchv1.Job) {
	t.Helper()
	got, err := client.BatchV1().Jobs(job.Namespace).Get(context.Background(), job.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, job.ResourceVersion, got.ResourceVersion, "the Job was never written")
	assert.Equal(t, batchv1.JobStatus{}, got.Status)
	pods, err := client.CoreV1().Pods(job.Namespace).List(context.Background(), metav1.ListOptions{
		LabelSelector: batchv1.ControllerUidLabel + "=" + string(job.UID),
	})
	require.NoError(t, err)
	assert.Empty(t, pods.Items, "no pod for the Job")
}
