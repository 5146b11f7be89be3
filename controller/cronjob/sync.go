package cronjob

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/kjob-dev/kjob/informers"
)

// sync brings one CronJob up to date. It returns when to look at it again
// (nil: only when an event says so) or an error, after which the worker
// retries the key with backoff. The numbers are those of the diagram in
// doc.go and docs/cronjob.md.
func (c *Controller) sync(ctx context.Context, key string) (*time.Duration, error) {
	logger := klog.FromContext(ctx)
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil, nil // a malformed key never becomes valid
	}

	// 1 Load the CronJob from the cache. Gone, or run by another
	// controller: nothing to do, and no reason to come back.
	cached, err := c.cronJobLister.CronJobs(namespace).Get(name)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	}
	if !c.manages(cached) {
		logger.V(4).Info("Skipping CronJob run by another controller", "cronjob", klog.KObj(cached))
		return nil, nil
	}

	// 2 List its Jobs: those whose controller reference carries its UID,
	// less those this controller has deleted already.
	jobs, err := c.childJobs(cached)
	if err != nil {
		return nil, err
	}

	// 3 Work on a copy: the cache's objects are shared and read-only.
	w := newWorkingCopy(cached)

	// 4 Delete the finished Jobs beyond the history limits.
	c.cleanupHistory(ctx, w.cj, jobs)

	// 5-11, and the requeue time of 13.
	requeue, syncErr := c.syncSchedule(ctx, w, jobs)

	// 12 Write the status once, if this sync changed it. A write error
	// wins over everything else: the retry redoes the whole sync.
	if !equality.Semantic.DeepEqual(w.stored, w.cj.Status) {
		if err := c.writeStatus(ctx, w.cj); err != nil {
			return nil, err
		}
	}
	// 13 Come back at the next start time (syncSchedule worked it out).
	if requeue != nil {
		logger.V(4).Info("Requeueing CronJob for its next start time", "cronjob", klog.KObj(cached), "after", *requeue)
		return requeue, nil
	}
	return nil, syncErr
}

// writeStatus writes cj's status. A conflict means the copy this sync
// started from was stale, typically because the previous sync's own write
// has not reached the cache yet. If the CronJob's current status is already
// the one this sync computed, there is nothing left to write; otherwise the
// conflict stands and the sync is retried on fresher data.
func (c *Controller) writeStatus(ctx context.Context, cj *batchv1.CronJob) error {
	cronJobs := c.client.BatchV1().CronJobs(cj.Namespace)
	_, err := cronJobs.UpdateStatus(ctx, cj, metav1.UpdateOptions{FieldManager: FieldManager})
	if !apierrors.IsConflict(err) {
		return err
	}
	current, getErr := cronJobs.Get(ctx, cj.Name, metav1.GetOptions{})
	if getErr == nil && current.UID == cj.UID && equality.Semantic.DeepEqual(current.Status, cj.Status) {
		return nil
	}
	return err
}

// childJobs returns the cached Jobs cj controls, less those this controller
// has deleted already (see Controller.deleted).
func (c *Controller) childJobs(cj *batchv1.CronJob) ([]*batchv1.Job, error) {
	jobs, err := informers.JobsControlledBy(c.jobIndexer, cj.UID)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(jobs, func(j *batchv1.Job) bool { return c.deletedByUs(j.UID) }), nil
}

// syncSchedule is steps 5 to 11: reconcile status.active, then decide
// whether a start time is due and start its Job. It returns the requeue
// time of step 13, or nil for "wait for an event" (invalid input, suspend,
// deletion, a Job that exists already), with the error to retry on.
func (c *Controller) syncSchedule(ctx context.Context, w *workingCopy, jobs []*batchv1.Job) (*time.Duration, error) {
	logger := klog.FromContext(ctx)
	now := c.clock.Now()

	// 5 Reconcile status.active with the Jobs (active.go).
	if err := c.reconcileActive(ctx, w, jobs); err != nil {
		return nil, err
	}
	cj := w.cj

	// 6 Early exits. None of them requeues: the CronJob must change (and
	// its update event brings it back) before anything can be scheduled.
	// 6.1 Being deleted: only the status is kept up to date.
	if cj.DeletionTimestamp != nil {
		return nil, nil
	}
	// 6.2 A timeZone this controller cannot load.
	if _, err := loadTimeZone(cj); err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, ReasonUnknownTimeZone, "invalid timeZone: %q: %s", *cj.Spec.TimeZone, err)
		return nil, nil
	}
	// 6.3 Suspended. Start times missed meanwhile count as missed on resume.
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		logger.V(4).Info("Not scheduling: the CronJob is suspended", "cronjob", klog.KObj(cj))
		return nil, nil
	}
	// 6.4 A schedule that does not parse. TZ= inside the schedule parses
	// but is not supported: warn at every sync that gets this far.
	if namesZoneInSchedule(cj) {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, ReasonUnsupportedSchedule,
			"CRON_TZ or TZ used in schedule %q is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details", cj.Spec.Schedule)
	}
	sched, err := parseSchedule(cj, c.location)
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, ReasonUnparseableSchedule, "unparseable schedule: %q : %s", cj.Spec.Schedule, err)
		return nil, nil
	}

	// 7 Find the start time to run: the most recent one that is due,
	// looking back no further than startingDeadlineSeconds.
	due, err := findDueSlot(cj, sched, now, true)
	if err != nil {
		// 6.5 A schedule that parses but never yields usable start times.
		c.recorder.Eventf(cj, corev1.EventTypeWarning, ReasonInvalidSchedule, "invalid schedule: %s : %s", cj.Spec.Schedule, err)
		return nil, nil
	}
	requeue := func() (*time.Duration, error) { return c.requeueAfter(cj, sched, now), nil }
	if due.slot == nil {
		// 8 Too late? Nothing is due inside the deadline. If a start time
		// fell out of it, say so (docs/cronjob.md, decision C2).
		if late := missedSlot(cj, sched, now); late != nil {
			c.recorder.Eventf(cj, corev1.EventTypeWarning, ReasonMissSchedule, "Missed scheduled time to start a job: %s", late.UTC().Format(time.RFC1123Z))
		}
		return requeue()
	}
	slot := *due.slot
	if due.missed > MaxMissedSchedules {
		c.recorder.Event(cj, corev1.EventTypeWarning, ReasonTooManyMissedTimes, MessageTooManyMissedTimes)
		logger.Info("Too many missed start times; starting only the most recent", "cronjob", klog.KObj(cj), "missed", due.missed, "slot", slot)
	}

	// 9 Already handled? Its Job is running, or it was the last start.
	if isActiveByName(cj, jobName(cj, slot)) || cj.Status.LastScheduleTime.Equal(&metav1.Time{Time: slot}) {
		return requeue()
	}

	// 10 Concurrency policy. Only status.active counts.
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(cj.Status.Active) > 0 {
			// lastScheduleTime stays: when the running Job ends, its
			// update event brings us back, and this start time runs
			// late if it is still within the deadline (F19).
			c.recorder.Event(cj, corev1.EventTypeNormal, ReasonJobAlreadyActive, MessageJobAlreadyActive)
			return requeue()
		}
	case batchv1.ReplaceConcurrent:
		for _, ref := range slices.Clone(cj.Status.Active) {
			job, err := c.client.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil {
				c.recorder.Eventf(cj, corev1.EventTypeWarning, ReasonFailedGet, "Get job: %v", err)
				return nil, err
			}
			if !c.deleteJob(ctx, cj, job) {
				return nil, fmt.Errorf("replacing job %s/%s: the delete failed", job.Namespace, job.Name)
			}
		}
	}

	// 11 Create the Job (create.go), then 12 record it in the status.
	job, record, err := c.createJob(ctx, cj, slot)
	if err != nil || !record {
		return nil, err
	}
	cj.Status.Active = append(cj.Status.Active, activeRef(job))
	cj.Status.LastScheduleTime = &metav1.Time{Time: slot}

	// 13 The next start time after this one.
	return requeue()
}

// requeueAfter is step 13 as a pointer, nil when the schedule has no next
// start time at all.
func (c *Controller) requeueAfter(cj *batchv1.CronJob, sched cron.Schedule, now time.Time) *time.Duration {
	d, ok := untilNextSlot(cj, sched, now)
	if !ok {
		return nil
	}
	return &d
}
