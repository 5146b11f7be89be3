package controller

import (
	"time"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A Job finishes in two steps (rule S5). First an interim condition says the
// outcome is decided (SuccessCriteriaMet or FailureTarget); the remaining pods
// are then stopped and counted; only when none is left running or uncounted
// does the terminal condition (Complete or Failed) follow. Clients that free
// resources on Complete/Failed can trust that no pod still runs.

// finishing is the outcome a sync has decided for a Job.
type finishing struct {
	success bool
	reason  string
	message string
	// recorded: the interim condition is already in the stored status, so
	// this sync only has to finish what an earlier one decided.
	recorded bool
}

func (f *finishing) interimType() batchv1.JobConditionType {
	if f.success {
		return batchv1.JobSuccessCriteriaMet
	}
	return batchv1.JobFailureTarget
}

func (f *finishing) terminalType() batchv1.JobConditionType {
	if f.success {
		return batchv1.JobComplete
	}
	return batchv1.JobFailed
}

func findCondition(status *batchv1.JobStatus, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range status.Conditions {
		if status.Conditions[i].Type == t {
			return &status.Conditions[i]
		}
	}
	return nil
}

func hasTrueCondition(status *batchv1.JobStatus, t batchv1.JobConditionType) bool {
	c := findCondition(status, t)
	return c != nil && c.Status == v1.ConditionTrue
}

// isFinished: Complete=True or Failed=True. Nothing more happens to such a Job.
func isFinished(job *batchv1.Job) bool {
	return hasTrueCondition(&job.Status, batchv1.JobComplete) || hasTrueCondition(&job.Status, batchv1.JobFailed)
}

func newCondition(t batchv1.JobConditionType, status v1.ConditionStatus, reason, message string, now time.Time) batchv1.JobCondition {
	return batchv1.JobCondition{
		Type: t, Status: status, Reason: reason, Message: message,
		LastProbeTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now),
	}
}

// setCondition makes the condition of type t read (status, reason, message).
// It reports whether anything changed; an unchanged condition keeps its
// transition time. A missing condition is added only when True: a Job that
// was never suspended gets no Suspended=False (§5.7).
func setCondition(st *batchv1.JobStatus, t batchv1.JobConditionType, status v1.ConditionStatus, reason, message string, now time.Time) bool {
	if c := findCondition(st, t); c != nil {
		if c.Status == status && c.Reason == reason && c.Message == message {
			return false
		}
		*c = newCondition(t, status, reason, message, now)
		return true
	}
	if status != v1.ConditionTrue {
		return false
	}
	st.Conditions = append(st.Conditions, newCondition(t, status, reason, message, now))
	return true
}

// recordedFinishing returns the outcome an earlier sync already wrote as an
// interim condition, so a restarted controller carries it through. Interim
// conditions with status False (written by hand) mean nothing.
func recordedFinishing(st *batchv1.JobStatus) *finishing {
	if c := findCondition(st, batchv1.JobSuccessCriteriaMet); c != nil && c.Status == v1.ConditionTrue {
		return &finishing{success: true, reason: c.Reason, message: c.Message, recorded: true}
	}
	if c := findCondition(st, batchv1.JobFailureTarget); c != nil && c.Status == v1.ConditionTrue {
		return &finishing{reason: c.Reason, message: c.Message, recorded: true}
	}
	return nil
}
