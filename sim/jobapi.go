package sim

import (
	"maps"
	"math"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// The batch/v1 Job API as the apiserver serves it: defaults, the generated
// selector, and (in jobapi_validation.go, jobapi_update.go) what it
// rejects. A fake clientset does none of this, so without it a simulated Job
// would differ from the one a real cluster stores.

// The label keys of the generated selector that predate the
// batch.kubernetes.io/ prefix; the apiserver still sets both forms.
const (
	legacyJobNameLabel       = "job-name"
	legacyControllerUIDLabel = "controller-uid"
)

// Defaults of batch/v1 that are not plain constants of the API package.
const (
	defaultBackoffLimit int32 = 6
	// backoffLimitWithPerIndexLimit replaces the default backoffLimit when a
	// per-index limit is set: the per-index limit is then the one that counts.
	backoffLimitWithPerIndexLimit int32 = math.MaxInt32
)

// DefaultJob fills in the fields the apiserver defaults on a Job that is
// created or updated: completions and parallelism, backoffLimit,
// completionMode, suspend, podReplacementPolicy, manualSelector, the status
// of pod-condition rules, and the Job's labels from its pod template when it
// has none. It changes only fields that are unset.
//
// The selector and its template labels are not defaults: the apiserver
// generates them when the Job is created, because they need its uid.
func DefaultJob(job *batchv1.Job) {
	spec := &job.Spec
	switch {
	case spec.Completions == nil && spec.Parallelism == nil:
		spec.Completions = ptr.To[int32](1)
		spec.Parallelism = ptr.To[int32](1)
	case spec.Parallelism == nil:
		spec.Parallelism = ptr.To[int32](1)
	}
	if spec.BackoffLimit == nil {
		limit := defaultBackoffLimit
		if spec.BackoffLimitPerIndex != nil {
			limit = backoffLimitWithPerIndexLimit
		}
		spec.BackoffLimit = &limit
	}
	if spec.CompletionMode == nil {
		spec.CompletionMode = ptr.To(batchv1.NonIndexedCompletion)
	}
	if spec.Suspend == nil {
		spec.Suspend = ptr.To(false)
	}
	if spec.PodReplacementPolicy == nil {
		policy := batchv1.TerminatingOrFailed
		if spec.PodFailurePolicy != nil {
			policy = batchv1.Failed
		}
		spec.PodReplacementPolicy = &policy
	}
	if spec.ManualSelector == nil {
		spec.ManualSelector = ptr.To(false)
	}
	if pfp := spec.PodFailurePolicy; pfp != nil {
		for i := range pfp.Rules {
			for j := range pfp.Rules[i].OnPodConditions {
				if pfp.Rules[i].OnPodConditions[j].Status == "" {
					pfp.Rules[i].OnPodConditions[j].Status = corev1.ConditionTrue
				}
			}
		}
	}
	if len(job.Labels) == 0 && len(spec.Template.Labels) > 0 {
		job.Labels = maps.Clone(spec.Template.Labels)
	}
}

// generateJobSelector gives a new Job whose manualSelector is not true the
// labels that tie its pods to it, and a selector on its uid. Labels the user
// set already are kept, so a conflicting value fails validation instead of
// being overwritten silently.
func generateJobSelector(job *batchv1.Job) {
	if job.Spec.ManualSelector != nil && *job.Spec.ManualSelector {
		return
	}
	tmpl := &job.Spec.Template
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	for key, value := range generatedJobLabels(job) {
		if _, set := tmpl.Labels[key]; !set {
			tmpl.Labels[key] = value
		}
	}
	if job.Spec.Selector == nil {
		job.Spec.Selector = &metav1.LabelSelector{}
	}
	if job.Spec.Selector.MatchLabels == nil {
		job.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, set := job.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel]; !set {
		job.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] = string(job.UID)
	}
}

// generatedJobLabels are the labels a generated selector relies on.
func generatedJobLabels(job *batchv1.Job) map[string]string {
	return map[string]string{
		batchv1.JobNameLabel:       job.Name,
		legacyJobNameLabel:         job.Name,
		batchv1.ControllerUidLabel: string(job.UID),
		legacyControllerUIDLabel:   string(job.UID),
	}
}
