package controller

import (
	"context"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// suspend / resume (job-semantics.md §5.7, rules S10 and S11). spec.suspend
// lets a queueing system (Kueue, a person) stop a Job without failing it
// and start it again later:
//
//   - suspending deletes every active pod, after taking its tracking
//     finalizer off, so none of them is ever counted as failed or
//     succeeded; the Job gets Suspended=True and a Suspended event, and its
//     startTime is cleared (the 1.37 default);
//   - resuming turns the condition to Suspended=False with a Resumed event
//     and sets startTime to now, in the same status write: the apiserver
//     accepts a changed startTime on a running Job only in that write;
//   - a Job created suspended gets no startTime until it is resumed;
//   - activeDeadlineSeconds never runs while the Job is suspended (see
//     deadline.go), so the deadline of a resumed Job counts from the resume.
//
// The condition changes only in a sync where manageJob ran, so it always
// describes what was done to the pods, never an intent the cache may not
// show yet.

func isSuspended(job *batchv1.Job) bool { return ptr.Deref(job.Spec.Suspend, false) }

// suspendPods is step 7 for a suspended Job: every active pod goes, in the
// removal order, and none counts (rule S11).
func (c *Controller) suspendPods(ctx context.Context, job *batchv1.Job, st *syncState) (int32, error) {
	if len(st.active) > 0 {
		klog.FromContext(ctx).V(2).Info("Deleting the pods of a suspended Job", "active", len(st.active))
	}
	victims := removalOrder(st.active, len(st.active))
	return c.scaleDown(ctx, job, st, victims)
}

// updateSuspended keeps the Suspended condition, its events and startTime in
// step with spec.suspend, and reports whether the status changed. It runs
// only in syncs where manageJob ran.
func (c *Controller) updateSuspended(ctx context.Context, job *batchv1.Job) bool {
	now := c.clock.Now()
	logger := klog.FromContext(ctx)
	if isSuspended(job) {
		if !setCondition(&job.Status, batchv1.JobSuspended, v1.ConditionTrue, ReasonJobSuspended, MessageJobSuspended, now) {
			return false
		}
		c.recorder.Event(job, v1.EventTypeNormal, EventSuspended, MessageJobSuspended)
		logger.V(2).Info("Job suspended")
		// Time spent suspended must not count against the deadline; the
		// resume starts the clock again.
		job.Status.StartTime = nil
		return true
	}
	// setCondition never adds a False condition: a Job that was never
	// suspended gets neither the condition nor a Resumed event.
	if !setCondition(&job.Status, batchv1.JobSuspended, v1.ConditionFalse, ReasonJobResumed, MessageJobResumed, now) {
		return false
	}
	c.recorder.Event(job, v1.EventTypeNormal, EventResumed, MessageJobResumed)
	logger.V(2).Info("Job resumed")
	job.Status.StartTime = ptr.To(metav1.NewTime(now))
	c.armDeadline(job)
	return true
}
