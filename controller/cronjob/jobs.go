package cronjob

import (
	"maps"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The Jobs of a CronJob: how one is made from the template, how to tell a
// finished one, and the status.active list that remembers running ones.

var cronJobKind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// newJob builds the Job for one start time: the template's labels,
// annotations and spec, the deterministic name, the scheduled-timestamp
// annotation (RFC 3339 in the CronJob's timeZone, UTC without one) and a
// controller reference to the CronJob, which is how the Job is found again
// and how the garbage collector deletes it with its CronJob.
func newJob(cj *batchv1.CronJob, slot time.Time) (*batchv1.Job, error) {
	zone, err := loadTimeZone(cj)
	if err != nil {
		return nil, err
	}
	if zone == nil {
		zone = time.UTC
	}
	tmpl := &cj.Spec.JobTemplate
	labels := maps.Clone(tmpl.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	annotations := maps.Clone(tmpl.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[batchv1.CronJobScheduledTimestampAnnotation] = slot.In(zone).Format(time.RFC3339)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            jobName(cj, slot),
			Namespace:       cj.Namespace,
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, cronJobKind)},
		},
		Spec: *tmpl.Spec.DeepCopy(),
	}, nil
}

// finishedAs returns the terminal condition of a Job (Complete or Failed),
// or "" while it runs. Only a condition with status True counts.
func finishedAs(job *batchv1.Job) batchv1.JobConditionType {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.Type
		}
	}
	return ""
}

// isActive reports whether status.active lists the Job with this UID.
func isActive(cj *batchv1.CronJob, uid types.UID) bool {
	return slices.ContainsFunc(cj.Status.Active, func(ref corev1.ObjectReference) bool { return ref.UID == uid })
}

// isActiveByName reports whether status.active lists a Job of this name.
func isActiveByName(cj *batchv1.CronJob, name string) bool {
	return slices.ContainsFunc(cj.Status.Active, func(ref corev1.ObjectReference) bool { return ref.Name == name })
}

// removeActive takes the Job with this UID off status.active.
func removeActive(cj *batchv1.CronJob, uid types.UID) {
	cj.Status.Active = slices.DeleteFunc(cj.Status.Active, func(ref corev1.ObjectReference) bool { return ref.UID == uid })
	if len(cj.Status.Active) == 0 {
		cj.Status.Active = nil
	}
}

// activeRef is the object reference status.active holds for a Job.
func activeRef(job *batchv1.Job) corev1.ObjectReference {
	return corev1.ObjectReference{
		Kind:            "Job",
		APIVersion:      batchv1.SchemeGroupVersion.String(),
		Namespace:       job.Namespace,
		Name:            job.Name,
		UID:             job.UID,
		ResourceVersion: job.ResourceVersion,
	}
}
