package sim

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateJobStatusUpdate reports what the apiserver rejects in a write of
// a Job's status subresource (job-semantics.md §3.5), for the rules about
// status.startTime, the field suspend and resume move (field report F17):
//
//   - once set, startTime may change, or be cleared, only while the Job is
//     suspended, or in the write that turns Suspended from True to False
//     (the resume);
//   - a finished Job (Complete or Failed) has a startTime, unless it is a
//     suspended Job with completions 0, which finishes without starting.
//
// job is the Job as it would be stored, old as it is stored.
func ValidateJobStatusUpdate(job, old *batchv1.Job) field.ErrorList {
	var errs field.ErrorList
	path := field.NewPath("status", "startTime")
	suspended := job.Spec.Suspend != nil && *job.Spec.Suspend
	if old.Status.StartTime != nil && !equality.Semantic.DeepEqual(old.Status.StartTime, job.Status.StartTime) &&
		!suspended && !resumedIn(job, old) {
		errs = append(errs, field.Invalid(path, job.Status.StartTime,
			"may change only while the Job is suspended, or in the status write that resumes it"))
	}
	if job.Status.StartTime == nil && finishedJob(job) &&
		!(suspended && job.Spec.Completions != nil && *job.Spec.Completions == 0) {
		errs = append(errs, field.Required(path, "a finished Job must have a startTime"))
	}
	return errs
}

// resumedIn: old carries Suspended=True and job Suspended=False.
func resumedIn(job, old *batchv1.Job) bool {
	return jobConditionStatus(old, batchv1.JobSuspended) == corev1.ConditionTrue &&
		jobConditionStatus(job, batchv1.JobSuspended) == corev1.ConditionFalse
}

func finishedJob(job *batchv1.Job) bool {
	return jobConditionStatus(job, batchv1.JobComplete) == corev1.ConditionTrue ||
		jobConditionStatus(job, batchv1.JobFailed) == corev1.ConditionTrue
}

func jobConditionStatus(job *batchv1.Job, t batchv1.JobConditionType) corev1.ConditionStatus {
	for _, c := range job.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}
