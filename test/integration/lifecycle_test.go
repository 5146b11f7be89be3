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
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/controller"
)

// Deadline and suspend/resume against the real apiserver, whose status
// validation (startTime may change only while suspended or in the write
// that resumes, a finished Job needs a startTime …) checks every write the
// controller makes.

// TestActiveDeadline: e2e "should fail when exceeds active deadline".
func TestActiveDeadline(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ns := newNamespace(t, client)
	startController(t, client, ns)

	job := longRunning("deadline", 2)
	job.Spec.ActiveDeadlineSeconds = ptr.To[int64](3)
	job = createJob(t, client, ns, job)
	job = waitForJob(t, client, ns, job.Name, "Failed", func(j *batchv1.Job) bool {
		return hasCondition(j, batchv1.JobFailed)
	})

	target, failed := conditionOf(job, batchv1.JobFailureTarget), conditionOf(job, batchv1.JobFailed)
	require.NotNil(t, target, "FailureTarget comes before Failed")
	for _, c := range []*batchv1.JobCondition{target, failed} {
		assert.Equal(t, controller.ReasonDeadlineExceeded, c.Reason)
		assert.Equal(t, controller.MessageDeadlineExceeded, c.Message)
	}
	require.NotNil(t, job.Status.StartTime)
	assert.GreaterOrEqual(t, target.LastTransitionTime.Sub(job.Status.StartTime.Time), 3*time.Second,
		"not before startTime + activeDeadlineSeconds")
	assert.Equal(t, int32(0), job.Status.Active)
	assert.Equal(t, ptr.To[int32](0), job.Status.Ready)
	assert.Equal(t, ptr.To[int32](0), job.Status.Terminating)
	assert.Equal(t, int32(2), job.Status.Failed, "the running pods are counted as failed")
	waitForEvent(t, client, ns, job.UID, controller.ReasonDeadlineExceeded)
	waitForPods(t, client, ns, "gone", func(pods []corev1.Pod) bool { return len(pods) == 0 })
}

// TestSuspendJob is upstream's TestSuspendJob: a Job created suspended and
// then resumed, and a running Job suspended.
func TestSuspendJob(t *testing.T) {
	client := requireControlPlane(t)
	cases := []struct {
		name   string
		create bool // created suspended
	}{
		{name: "created suspended, then resumed", create: true},
		{name: "running, then suspended"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t, client)
			startController(t, client, ns)
			job := longRunning("suspendable", 2)
			job.Spec.Suspend = ptr.To(tc.create)
			job = createJob(t, client, ns, job)

			if tc.create {
				job = waitForJob(t, client, ns, job.Name, "Suspended", func(j *batchv1.Job) bool {
					return hasCondition(j, batchv1.JobSuspended)
				})
				assert.Nil(t, job.Status.StartTime, "no startTime before the resume")
				assertNoPods(t, client, ns)
				setSuspend(t, client, job, false)
				job = waitForJob(t, client, ns, job.Name, "resumed", func(j *batchv1.Job) bool {
					c := suspendedCondition(j)
					return j.Status.Active == 2 && c != nil && c.Status == corev1.ConditionFalse
				})
				c := suspendedCondition(job)
				assert.Equal(t, controller.ReasonJobResumed, c.Reason)
				assert.Equal(t, controller.MessageJobResumed, c.Message)
				assert.NotNil(t, job.Status.StartTime)
				waitForEvent(t, client, ns, job.UID, controller.EventResumed)
				return
			}

			waitForPods(t, client, ns, "running", runningPods(2))
			setSuspend(t, client, job, true)
			job = waitForJob(t, client, ns, job.Name, "Suspended", func(j *batchv1.Job) bool {
				return j.Status.Active == 0 && hasCondition(j, batchv1.JobSuspended)
			})
			assert.Equal(t, controller.ReasonJobSuspended, conditionOf(job, batchv1.JobSuspended).Reason)
			assert.Nil(t, job.Status.StartTime, "suspending clears startTime")
			waitForEvent(t, client, ns, job.UID, controller.EventSuspended)
			waitForPods(t, client, ns, "gone", func(pods []corev1.Pod) bool { return len(pods) == 0 })
			job, err := client.BatchV1().Jobs(ns).Get(context.Background(), job.Name, metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, int32(0), job.Status.Failed, "suspended pods are not failures")
			assert.Equal(t, int32(0), job.Status.Succeeded)
		})
	}
}

// TestSuspendResumeDeadline is field report F17: a running Job with a
// deadline is suspended past the deadline and resumed. Every status write
// must pass the apiserver's startTime rules, the deadline must not fire
// while the Job is suspended, and it must count from the resume.
func TestSuspendResumeDeadline(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ns := newNamespace(t, client)
	startController(t, client, ns)

	const deadline = 6 * time.Second
	job := longRunning("f17", 2)
	job.Spec.ActiveDeadlineSeconds = ptr.To(int64(deadline / time.Second))
	job = createJob(t, client, ns, job)
	waitForPods(t, client, ns, "running", runningPods(2))
	setSuspend(t, client, job, true)
	job = waitForJob(t, client, ns, job.Name, "Suspended", func(j *batchv1.Job) bool {
		return hasCondition(j, batchv1.JobSuspended) && j.Status.StartTime == nil
	})
	waitForPods(t, client, ns, "gone", func(pods []corev1.Pod) bool { return len(pods) == 0 })

	// Stay suspended well past the original deadline.
	time.Sleep(deadline + 2*time.Second)
	job, err := client.BatchV1().Jobs(ns).Get(context.Background(), job.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.False(t, hasCondition(job, batchv1.JobFailureTarget), "no deadline while suspended")
	assert.Equal(t, int32(0), job.Status.Failed)

	resumedAt := metav1.Now().Rfc3339Copy()
	setSuspend(t, client, job, false)
	job = waitForJob(t, client, ns, job.Name, "Failed", func(j *batchv1.Job) bool {
		return hasCondition(j, batchv1.JobFailed)
	})
	require.NotNil(t, job.Status.StartTime, "a finished Job keeps its startTime")
	assert.False(t, job.Status.StartTime.Before(&resumedAt), "startTime reset by the resume")
	target := conditionOf(job, batchv1.JobFailureTarget)
	require.NotNil(t, target)
	assert.Equal(t, controller.ReasonDeadlineExceeded, target.Reason)
	assert.GreaterOrEqual(t, target.LastTransitionTime.Sub(job.Status.StartTime.Time), deadline,
		"the deadline counts from the resume")
	assert.Equal(t, controller.ReasonJobResumed, suspendedCondition(job).Reason)
	assert.Equal(t, int32(2), job.Status.Failed, "only the pods the deadline stopped")
}

// TestSuspendJobControllerRestart: a suspended Job gets no pod, also from a
// controller that starts afresh.
func TestSuspendJobControllerRestart(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ns := newNamespace(t, client)
	first := startController(t, client, ns)
	job := longRunning("stays-suspended", 2)
	job.Spec.Suspend = ptr.To(true)
	job = createJob(t, client, ns, job)
	waitForJob(t, client, ns, job.Name, "Suspended", func(j *batchv1.Job) bool {
		return hasCondition(j, batchv1.JobSuspended)
	})
	first.stop()
	startController(t, client, ns)
	time.Sleep(2 * time.Second) // the new controller's first sync and its batch period
	assertNoPods(t, client, ns)
	got, err := client.BatchV1().Jobs(ns).Get(context.Background(), job.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Nil(t, got.Status.StartTime)
	assert.Equal(t, int32(0), got.Status.Active)
}

func setSuspend(t *testing.T, client kubernetes.Interface, job *batchv1.Job, suspend bool) {
	t.Helper()
	patch := []byte(`{"spec":{"suspend":false}}`)
	if suspend {
		patch = []byte(`{"spec":{"suspend":true}}`)
	}
	_, err := client.BatchV1().Jobs(job.Namespace).Patch(context.Background(), job.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	require.NoError(t, err)
}

// suspendedCondition returns the Suspended condition whatever its status.
func suspendedCondition(job *batchv1.Job) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if job.Status.Conditions[i].Type == batchv1.JobSuspended {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}

func assertNoPods(t *testing.T, client kubernetes.Interface, ns string) {
	t.Helper()
	pods, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, pods.Items)
}

// waitForEvent waits for an Event with the reason about the object uid.
func waitForEvent(t *testing.T, client kubernetes.Interface, ns string, uid types.UID, reason string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, waitTimeout, true,
		func(ctx context.Context) (bool, error) {
			events, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, nil
			}
			for _, e := range events.Items {
				if e.InvolvedObject.UID == uid && e.Reason == reason {
					return true, nil
				}
			}
			return false, nil
		})
	if err != nil {
		t.Fatalf("no %s event for %s in %s", reason, uid, ns)
	}
}
