package sim_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/sim"
)

// The batch/v1 rules for the Job lifecycle fields, as the apiserver
// applies them: defaulting, validation on create and update, and the
// status rules about startTime.

func lifecycleJob(mutate ...func(*batchv1.Job)) *batchv1.Job {
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: testNamespace},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "main", Image: "busybox"}},
		}}},
	}
	for _, m := range mutate {
		m(job)
	}
	return job
}

func policy(rules ...batchv1.PodFailurePolicyRule) func(*batchv1.Job) {
	return func(j *batchv1.Job) { j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: rules} }
}

func exitRule(action batchv1.PodFailurePolicyAction, op batchv1.PodFailurePolicyOnExitCodesOperator, values ...int32) batchv1.PodFailurePolicyRule {
	return batchv1.PodFailurePolicyRule{Action: action, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: op, Values: values}}
}

func TestLifecycleFieldDefaults(t *testing.T) {
	cases := []struct {
		name            string
		job             *batchv1.Job
		wantReplacement batchv1.PodReplacementPolicy
	}{
		{name: "no pod failure policy: TerminatingOrFailed", job: lifecycleJob(),
			wantReplacement: batchv1.TerminatingOrFailed},
		{name: "pod failure policy: Failed",
			job:             lifecycleJob(policy(exitRule(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpIn, 1))),
			wantReplacement: batchv1.Failed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sim.DefaultJob(tc.job)
			assert.Equal(t, ptr.To(tc.wantReplacement), tc.job.Spec.PodReplacementPolicy)
			assert.Equal(t, ptr.To(false), tc.job.Spec.Suspend)
			assert.Nil(t, tc.job.Spec.ActiveDeadlineSeconds, "no deadline by default")
			assert.Nil(t, tc.job.Spec.TTLSecondsAfterFinished, "kept forever by default")
		})
	}
	job := lifecycleJob(policy(batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionIgnore,
		OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}}}))
	sim.DefaultJob(job)
	assert.Equal(t, corev1.ConditionTrue, job.Spec.PodFailurePolicy.Rules[0].OnPodConditions[0].Status, "pattern status defaults to True")
}

func TestLifecycleFieldValidation(t *testing.T) {
	in, notIn := batchv1.PodFailurePolicyOnExitCodesOpIn, batchv1.PodFailurePolicyOnExitCodesOpNotIn
	cases := []struct {
		name    string
		job     *batchv1.Job
		wantErr string // "" accepts; else a field path in the error
	}{
		{name: "deadline, TTL and suspend", job: lifecycleJob(func(j *batchv1.Job) {
			j.Spec.ActiveDeadlineSeconds = ptr.To[int64](30)
			j.Spec.TTLSecondsAfterFinished = ptr.To[int32](0)
			j.Spec.Suspend = ptr.To(true)
		})},
		{name: "negative deadline", job: lifecycleJob(func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr.To[int64](-1) }),
			wantErr: "spec.activeDeadlineSeconds"},
		{name: "negative TTL", job: lifecycleJob(func(j *batchv1.Job) { j.Spec.TTLSecondsAfterFinished = ptr.To[int32](-1) }),
			wantErr: "spec.ttlSecondsAfterFinished"},
		{name: "a valid pod failure policy", job: lifecycleJob(policy(
			batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionIgnore,
				OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}},
			exitRule(batchv1.PodFailurePolicyActionFailJob, notIn, 0)))},
		{name: "podReplacementPolicy TerminatingOrFailed with a policy",
			job: lifecycleJob(policy(exitRule(batchv1.PodFailurePolicyActionCount, in, 1)), func(j *batchv1.Job) {
				j.Spec.PodReplacementPolicy = ptr.To(batchv1.TerminatingOrFailed)
			}), wantErr: "spec.podReplacementPolicy"},
		{name: "restartPolicy OnFailure with a policy",
			job: lifecycleJob(policy(exitRule(batchv1.PodFailurePolicyActionCount, in, 1)), func(j *batchv1.Job) {
				j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			}), wantErr: "spec.template.spec.restartPolicy"},
		{name: "exit code 0 with In", job: lifecycleJob(policy(exitRule(batchv1.PodFailurePolicyActionFailJob, in, 0, 1))),
			wantErr: "spec.podFailurePolicy.rules[0].onExitCodes.values[0]"},
		{name: "exit codes out of order", job: lifecycleJob(policy(exitRule(batchv1.PodFailurePolicyActionFailJob, in, 2, 1))),
			wantErr: "spec.podFailurePolicy.rules[0].onExitCodes.values[1]"},
		{name: "containerName of no container", job: lifecycleJob(policy(func() batchv1.PodFailurePolicyRule {
			r := exitRule(batchv1.PodFailurePolicyActionFailJob, in, 1)
			r.OnExitCodes.ContainerName = ptr.To("sidecar")
			return r
		}())), wantErr: "spec.podFailurePolicy.rules[0].onExitCodes.containerName"},
		{name: "FailIndex without backoffLimitPerIndex", job: lifecycleJob(policy(exitRule(batchv1.PodFailurePolicyActionFailIndex, in, 1))),
			wantErr: "spec.podFailurePolicy.rules[0].action"},
		{name: "a rule with no requirement", job: lifecycleJob(policy(batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionIgnore})),
			wantErr: "spec.podFailurePolicy.rules[0]"},
		{name: "managedBy without a domain", job: lifecycleJob(func(j *batchv1.Job) { j.Spec.ManagedBy = ptr.To("my-controller") }),
			wantErr: "spec.managedBy"},
		{name: "managedBy too long", job: lifecycleJob(func(j *batchv1.Job) {
			j.Spec.ManagedBy = ptr.To("example.com/" + strings.Repeat("x", 60))
		}), wantErr: "spec.managedBy"},
		{name: "the reserved managedBy", job: lifecycleJob(func(j *batchv1.Job) { j.Spec.ManagedBy = ptr.To("kubernetes.io/job-controller") })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sim.DefaultJob(tc.job)
			errs := sim.ValidateJob(tc.job)
			if tc.wantErr == "" {
				assert.Empty(t, errs)
				return
			}
			require.NotEmpty(t, errs)
			assert.Contains(t, errs.ToAggregate().Error(), tc.wantErr)
		})
	}
}

// TestLifecycleFieldUpdates: suspend, the deadline and the TTL may change
// on a running Job; the pod failure policy and managedBy may not.
func TestLifecycleFieldUpdates(t *testing.T) {
	cases := []struct {
		name    string
		change  func(*batchv1.Job)
		wantErr string
	}{
		{name: "suspend", change: func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) }},
		{name: "activeDeadlineSeconds", change: func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr.To[int64](5) }},
		{name: "ttlSecondsAfterFinished", change: func(j *batchv1.Job) { j.Spec.TTLSecondsAfterFinished = ptr.To[int32](5) }},
		{name: "podFailurePolicy", change: policy(exitRule(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpIn, 1)),
			wantErr: "spec.podFailurePolicy"},
		{name: "managedBy", change: func(j *batchv1.Job) { j.Spec.ManagedBy = ptr.To("example.com/other") }, wantErr: "spec.managedBy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestCluster(t)
			jobs := c.Client().BatchV1().Jobs(testNamespace)
			created, err := jobs.Create(context.Background(), lifecycleJob(), metav1.CreateOptions{})
			require.NoError(t, err)
			tc.change(created)
			_, err = jobs.Update(context.Background(), created, metav1.UpdateOptions{})
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.True(t, apierrors.IsInvalid(err), "err = %v", err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

// TestJobStatusStartTime pins the status rules suspend and resume must
// follow (field report F17).
func TestJobStatusStartTime(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Minute))
	suspendedCond := func(status corev1.ConditionStatus) batchv1.JobCondition {
		return batchv1.JobCondition{Type: batchv1.JobSuspended, Status: status}
	}
	cases := []struct {
		name     string
		suspend  bool
		old, new batchv1.JobStatus
		wantErr  bool
	}{
		{name: "set on the first start", new: batchv1.JobStatus{StartTime: &t0}},
		{name: "changed on a running Job", old: batchv1.JobStatus{StartTime: &t0}, new: batchv1.JobStatus{StartTime: &t1}, wantErr: true},
		{name: "cleared on a running Job", old: batchv1.JobStatus{StartTime: &t0}, wantErr: true},
		{name: "cleared while suspended", suspend: true,
			old: batchv1.JobStatus{StartTime: &t0}, new: batchv1.JobStatus{Conditions: []batchv1.JobCondition{suspendedCond(corev1.ConditionTrue)}}},
		{name: "reset in the write that resumes",
			old: batchv1.JobStatus{StartTime: &t0, Conditions: []batchv1.JobCondition{suspendedCond(corev1.ConditionTrue)}},
			new: batchv1.JobStatus{StartTime: &t1, Conditions: []batchv1.JobCondition{suspendedCond(corev1.ConditionFalse)}}},
		{name: "reset after the resume was written",
			old: batchv1.JobStatus{StartTime: &t0, Conditions: []batchv1.JobCondition{suspendedCond(corev1.ConditionFalse)}},
			new: batchv1.JobStatus{StartTime: &t1, Conditions: []batchv1.JobCondition{suspendedCond(corev1.ConditionFalse)}}, wantErr: true},
		{name: "finished without a startTime",
			new: batchv1.JobStatus{Conditions: []batchv1.JobCondition{
				{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue}, {Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}},
			wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := lifecycleJob(func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(tc.suspend); j.Status = tc.old })
			updated := old.DeepCopy()
			updated.Status = tc.new
			errs := sim.ValidateJobStatusUpdate(updated, old)
			if tc.wantErr {
				require.NotEmpty(t, errs)
				assert.Contains(t, errs.ToAggregate().Error(), "status.startTime")
			} else {
				assert.Empty(t, errs)
			}
		})
	}

	// Through the cluster: the status subresource enforces it.
	c, _ := newTestCluster(t)
	jobs := c.Client().BatchV1().Jobs(testNamespace)
	job, err := jobs.Create(context.Background(), lifecycleJob(), metav1.CreateOptions{})
	require.NoError(t, err)
	job.Status.StartTime = &t0
	job, err = jobs.UpdateStatus(context.Background(), job, metav1.UpdateOptions{})
	require.NoError(t, err)
	job.Status.StartTime = &t1
	_, err = jobs.UpdateStatus(context.Background(), job, metav1.UpdateOptions{})
	assert.True(t, apierrors.IsInvalid(err), "moving startTime of a running Job: err = %v", err)
}
