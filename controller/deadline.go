package controller

import (
	"context"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/klog/v2"
)

// activeDeadlineSeconds (job-semantics.md §5.6, rule S10) bounds how long a
// Job may run, counted from status.startTime. Nothing in the cluster changes
// when a deadline passes: no pod event, no Job event. So the controller must
// wake itself up, which is why every sync that finds the deadline still
// ahead arms a timer for the time left. The timer is keyed by the Job's
// name like every queue key, and a sync it triggers reads whatever Job has
// that name now and judges it by that Job's own startTime: a timer left
// behind by a deleted Job can neither fail its successor early nor replace
// the successor's own timer (field report F16).

// checkDeadline is part of step 6. It returns the failure decision once the
// Job has been active for activeDeadlineSeconds; before that it requeues the
// Job for the moment the deadline passes and returns nil.
func (c *Controller) checkDeadline(ctx context.Context, job *batchv1.Job) *finishing {
	left, running := c.deadlineLeft(job)
	if !running {
		return nil
	}
	if left <= 0 {
		klog.FromContext(ctx).V(2).Info("Job passed its active deadline",
			"activeDeadlineSeconds", *job.Spec.ActiveDeadlineSeconds, "startTime", job.Status.StartTime.Time)
		return &finishing{reason: ReasonDeadlineExceeded, message: MessageDeadlineExceeded}
	}
	c.queue.AddAfter(keyOf(job), left)
	return nil
}

// armDeadline requeues the Job for its deadline, if one runs. A resume
// calls it: the sync that resumes a Job skipped the deadline check before
// the new startTime existed.
func (c *Controller) armDeadline(job *batchv1.Job) {
	if left, running := c.deadlineLeft(job); running {
		c.queue.AddAfter(keyOf(job), max(left, 0))
	}
}

// deadlineLeft returns how long the Job may still be active, and whether a
// deadline runs at all. None runs when activeDeadlineSeconds is unset, when
// the Job has not started, or while it is suspended (F17): suspended time
// never counts, and a resume starts the clock afresh. A Job that still
// carries Suspended=True is being resumed in this very sync, and step 7
// gives it a new startTime; judging it by the old one would fail a Job for
// time it spent suspended.
func (c *Controller) deadlineLeft(job *batchv1.Job) (time.Duration, bool) {
	ads := job.Spec.ActiveDeadlineSeconds
	if ads == nil || job.Status.StartTime == nil || isSuspended(job) ||
		hasTrueCondition(&job.Status, batchv1.JobSuspended) {
		return 0, false
	}
	deadline := job.Status.StartTime.Add(time.Duration(*ads) * time.Second)
	return deadline.Sub(c.clock.Now()), true
}
