package cronjob

import (
	"context"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
)

// workingCopy is the CronJob one sync changes. All changes go to cj; the
// status is written once, at the end, and only if it differs from stored,
// the status the API holds as far as this sync knows.
type workingCopy struct {
	cj     *batchv1.CronJob
	stored batchv1.CronJobStatus
}

func newWorkingCopy(cj *batchv1.CronJob) *workingCopy {
	return &workingCopy{cj: cj.DeepCopy(), stored: *cj.Status.DeepCopy()}
}

// reconcileActive is step 5 of the sync: make status.active and
// lastSuccessfulTime agree with the Jobs the CronJob controls.
//
// status.active is the controller's memory of what it started and the only
// list the concurrency policy looks at. A running Job that is not on it (a
// Job made with `kubectl create job --from=cronjob/…`, or one whose status
// write was lost) is reported, never adopted.
func (c *Controller) reconcileActive(ctx context.Context, w *workingCopy, jobs []*batchv1.Job) error {
	// 5.1 A running child that status.active does not list. Our cached
	// copy of the CronJob may be older than the status write that listed
	// it, so ask the API before calling the Job unexpected.
	for _, job := range jobs {
		if finishedAs(job) != "" || isActive(w.cj, job.UID) {
			continue
		}
		fresh, err := c.client.BatchV1().CronJobs(w.cj.Namespace).Get(ctx, w.cj.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if fresh.UID == w.cj.UID && isActive(fresh, job.UID) {
			*w = *newWorkingCopy(fresh)
			continue
		}
		c.recorder.Eventf(w.cj, corev1.EventTypeWarning, ReasonUnexpectedJob, "Saw a job that the controller did not create or forgot: %s", job.Name)
	}

	children := sets.New[types.UID]()
	for _, job := range jobs {
		children.Insert(job.UID)
		finished := finishedAs(job)
		// 5.2 A listed Job has finished: it leaves the list.
		if finished != "" && isActive(w.cj, job.UID) {
			removeActive(w.cj, job.UID)
			c.recorder.Eventf(w.cj, corev1.EventTypeNormal, ReasonSawCompletedJob, "Saw completed job: %s, condition: %v", job.Name, finished)
		}
		// 5.3 Any successful child, listed or not, may move
		// lastSuccessfulTime forward; it never moves back.
		if done := job.Status.CompletionTime; finished == batchv1.JobComplete && done != nil {
			if last := w.cj.Status.LastSuccessfulTime; last == nil || done.After(last.Time) {
				w.cj.Status.LastSuccessfulTime = done.DeepCopy()
			}
		}
	}

	// 5.4 A listed Job the cache does not have. The cache may lag, so ask
	// the API; a Job that is gone, or that was replaced by a namesake with
	// another UID, leaves the list.
	for _, ref := range slices.Clone(w.cj.Status.Active) {
		if children.Has(ref.UID) {
			continue
		}
		if c.deletedByUs(ref.UID) {
			// Deleted by an earlier sync whose status write this copy of
			// the CronJob predates: known gone, nothing to report.
			removeActive(w.cj, ref.UID)
			continue
		}
		job, err := c.client.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err), err == nil && job.UID != ref.UID:
			removeActive(w.cj, ref.UID)
			c.recorder.Eventf(w.cj, corev1.EventTypeNormal, ReasonMissingJob, "Active job went missing: %v", ref.Name)
		case err != nil:
			return err
		}
	}
	return nil
}
