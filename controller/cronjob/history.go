package cronjob

import (
	"context"
	"slices"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// cleanupHistory is step 4 of the sync: keep the newest
// successfulJobsHistoryLimit Complete Jobs and the newest
// failedJobsHistoryLimit Failed ones, and delete the rest, oldest first.
//
// Jobs still running are neither counted nor deleted. Nor are Jobs already
// being deleted (deletionTimestamp set): deleting them again would change
// nothing but add an event at every sync while a finalizer holds them
// (field report F21). It runs even for a suspended CronJob or one being
// deleted, and only when at least one limit is set; the API defaults both.
func (c *Controller) cleanupHistory(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) {
	if cj.Spec.SuccessfulJobsHistoryLimit == nil && cj.Spec.FailedJobsHistoryLimit == nil {
		return
	}
	var complete, failed []*batchv1.Job
	for _, job := range jobs {
		if job.DeletionTimestamp != nil {
			continue
		}
		switch finishedAs(job) {
		case batchv1.JobComplete:
			complete = append(complete, job)
		case batchv1.JobFailed:
			failed = append(failed, job)
		}
	}
	c.deleteOldest(ctx, cj, complete, cj.Spec.SuccessfulJobsHistoryLimit)
	c.deleteOldest(ctx, cj, failed, cj.Spec.FailedJobsHistoryLimit)
}

// deleteOldest deletes all but the newest limit of jobs. A failed delete is
// reported and left for a later sync.
func (c *Controller) deleteOldest(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job, limit *int32) {
	if limit == nil || len(jobs) <= int(*limit) {
		return
	}
	slices.SortFunc(jobs, olderFirst)
	for _, job := range jobs[:len(jobs)-int(*limit)] {
		_ = c.deleteJob(ctx, cj, job)
	}
}

// olderFirst orders Jobs by startTime, names breaking ties. A Job that
// never started counts as the newest: it is the last to go.
func olderFirst(a, b *batchv1.Job) int {
	as, bs := a.Status.StartTime, b.Status.StartTime
	switch {
	case as == nil && bs != nil:
		return 1
	case as != nil && bs == nil:
		return -1
	case as != nil && !as.Equal(bs):
		return as.Compare(bs.Time)
	}
	return strings.Compare(a.Name, b.Name)
}

// deletedByUs reports whether this controller deleted the Job with uid and
// the Job cache has not caught up with that yet.
func (c *Controller) deletedByUs(uid types.UID) bool {
	_, ok := c.deleted.Load(uid)
	return ok
}

// deleteJob deletes one of cj's Jobs with Background propagation, so the
// garbage collector removes its pods too, and takes it off status.active.
// History cleanup and the Replace policy both delete this way. It reports
// the outcome as an Event and returns whether the Job is gone.
func (c *Controller) deleteJob(ctx context.Context, cj *batchv1.CronJob, job *batchv1.Job) bool {
	background := metav1.DeletePropagationBackground
	err := c.client.BatchV1().Jobs(job.Namespace).Delete(ctx, job.Name, metav1.DeleteOptions{
		PropagationPolicy: &background,
		// Only the Job that was seen: never a namesake created since.
		Preconditions: &metav1.Preconditions{UID: &job.UID},
	})
	if err == nil || apierrors.IsNotFound(err) {
		c.deleted.Store(job.UID, struct{}{})
	}
	if apierrors.IsNotFound(err) {
		// Gone already: an earlier sync deleted it and the cache has not
		// caught up yet, or someone else did. Done, with nothing to report
		// (docs/cronjob.md, decision C5).
		klog.FromContext(ctx).V(4).Info("Job to delete is gone already", "cronjob", klog.KObj(cj), "job", klog.KObj(job))
		removeActive(cj, job.UID)
		return true
	}
	if err != nil {
		klog.FromContext(ctx).Error(err, "Deleting a Job of the CronJob failed", "cronjob", klog.KObj(cj), "job", klog.KObj(job))
		c.recorder.Eventf(cj, corev1.EventTypeWarning, ReasonFailedDelete, "Deleted job: %v", err)
		return false
	}
	removeActive(cj, job.UID)
	c.recorder.Eventf(cj, corev1.EventTypeNormal, ReasonSuccessfulDelete, "Deleted job %v", job.Name)
	return true
}
