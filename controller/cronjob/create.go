package cronjob

import (
	"context"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// createJob is step 11 of the sync: create the Job for slot. It returns the
// Job to record in status.active (step 12) with record set, or record
// false when there is nothing to record; err is for the worker to retry.
//
// The deterministic name makes the create its own lock. If the name is
// taken, the Job is read back:
//   - ours but not in status.active (the status write after an earlier
//     create was lost): record it now, without a SuccessfulCreate event;
//   - ours and listed, or someone else's: nothing to do, and no requeue
//     either; the next event about the CronJob or its Jobs brings it back.
//
// The create is never retried in a loop.
func (c *Controller) createJob(ctx context.Context, cj *batchv1.CronJob, slot time.Time) (job *batchv1.Job, record bool, err error) {
	logger := klog.FromContext(ctx)
	want, err := newJob(cj, slot)
	if err != nil {
		return nil, false, err
	}
	created, err := c.client.BatchV1().Jobs(cj.Namespace).Create(ctx, want, metav1.CreateOptions{FieldManager: FieldManager})
	switch {
	case err == nil:
		logger.V(2).Info("Created Job", "cronjob", klog.KObj(cj), "job", klog.KObj(created), "slot", slot)
		c.recorder.Eventf(cj, corev1.EventTypeNormal, ReasonSuccessfulCreate, "Created job %v", created.Name)
		if c.observeSkew != nil {
			c.observeSkew(created.CreationTimestamp.Sub(slot))
		}
		return created, true, nil

	case apierrors.IsAlreadyExists(err):
		existing, err := c.client.BatchV1().Jobs(cj.Namespace).Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			return nil, false, err
		}
		if !metav1.IsControlledBy(existing, cj) || isActive(cj, existing.UID) {
			logger.V(2).Info("Job for this start time exists already", "cronjob", klog.KObj(cj), "job", klog.KObj(existing))
			return nil, false, nil
		}
		logger.Info("Recording a Job created earlier whose status write was lost", "cronjob", klog.KObj(cj), "job", klog.KObj(existing))
		return existing, true, nil

	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		// Every create will fail until the namespace is gone; no event,
		// but retry with backoff.
		return nil, false, err

	default:
		c.recorder.Eventf(cj, corev1.EventTypeWarning, ReasonFailedCreate, "Error creating job: %v", err)
		return nil, false, err
	}
}
