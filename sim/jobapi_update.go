package sim

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateJobUpdate reports what the apiserver rejects when job replaces old:
// everything ValidateJob rejects, changes to immutable metadata, and changes
// to the parts of the spec that are fixed once the Job exists. The selector,
// completionMode, podFailurePolicy, backoffLimitPerIndex, successPolicy and
// managedBy never change; completions changes only for an Indexed Job and
// only together with parallelism (an elastic Indexed Job); the pod template
// is fixed, except that a suspended Job that has no active pods and is not
// running may change its scheduling directives and container resources.
func ValidateJobUpdate(job, old *batchv1.Job) field.ErrorList {
	errs := apivalidation.ValidateObjectMetaUpdate(&job.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, ValidateJob(job)...)
	spec, oldSpec := &job.Spec, &old.Spec
	path := field.NewPath("spec")
	immutable := func(newValue, oldValue any, name string) {
		errs = append(errs, apivalidation.ValidateImmutableField(newValue, oldValue, path.Child(name))...)
	}
	immutable(spec.Selector, oldSpec.Selector, "selector")
	immutable(spec.CompletionMode, oldSpec.CompletionMode, "completionMode")
	immutable(spec.PodFailurePolicy, oldSpec.PodFailurePolicy, "podFailurePolicy")
	immutable(spec.BackoffLimitPerIndex, oldSpec.BackoffLimitPerIndex, "backoffLimitPerIndex")
	immutable(spec.SuccessPolicy, oldSpec.SuccessPolicy, "successPolicy")
	immutable(spec.ManagedBy, oldSpec.ManagedBy, "managedBy")
	errs = append(errs, validateCompletionsUpdate(spec, oldSpec, path.Child("completions"))...)
	return append(errs, validateTemplateUpdate(job, old, path.Child("template"))...)
}

func validateCompletionsUpdate(spec, oldSpec *batchv1.JobSpec, path *field.Path) field.ErrorList {
	if equality.Semantic.DeepEqual(spec.Completions, oldSpec.Completions) {
		return nil
	}
	if !isIndexed(oldSpec) || spec.Completions == nil {
		return apivalidation.ValidateImmutableField(spec.Completions, oldSpec.Completions, path)
	}
	if spec.Parallelism == nil || *spec.Parallelism != *spec.Completions {
		return field.ErrorList{field.Invalid(path, *spec.Completions,
			"an Indexed Job may change completions only together with parallelism, to the same value")}
	}
	return nil
}

// validateTemplateUpdate allows only the template changes a suspended,
// not-running Job may make.
func validateTemplateUpdate(job, old *batchv1.Job, path *field.Path) field.ErrorList {
	tmpl, oldTmpl := &job.Spec.Template, &old.Spec.Template
	if equality.Semantic.DeepEqual(tmpl, oldTmpl) {
		return nil
	}
	if mayChangeSuspendedTemplate(old) && equality.Semantic.DeepEqual(tmpl, withMutableParts(oldTmpl, tmpl)) {
		return nil
	}
	return field.ErrorList{field.Invalid(path, field.OmitValueType{},
		"field is immutable; only a suspended Job with no active pods that has not started (or is marked Suspended) may change scheduling directives and container resources")}
}

// mayChangeSuspendedTemplate reports whether old is in the state in which
// the apiserver lets its template's scheduling directives and container
// resources change: suspended, no active pods, and never started or marked
// Suspended.
func mayChangeSuspendedTemplate(old *batchv1.Job) bool {
	if old.Spec.Suspend == nil || !*old.Spec.Suspend || old.Status.Active != 0 {
		return false
	}
	if old.Status.StartTime == nil {
		return true
	}
	for _, c := range old.Status.Conditions {
		if c.Type == batchv1.JobSuspended && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// withMutableParts returns old with the parts a suspended Job may change
// taken from updated: the template's labels and annotations, node selector,
// node affinity, tolerations, scheduling gates, and container resources.
func withMutableParts(old, updated *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	out := old.DeepCopy()
	out.Labels = updated.Labels
	out.Annotations = updated.Annotations
	out.Spec.NodeSelector = updated.Spec.NodeSelector
	out.Spec.Tolerations = updated.Spec.Tolerations
	out.Spec.SchedulingGates = updated.Spec.SchedulingGates

	var nodeAffinity *corev1.NodeAffinity
	if updated.Spec.Affinity != nil {
		nodeAffinity = updated.Spec.Affinity.NodeAffinity
	}
	if out.Spec.Affinity == nil && nodeAffinity != nil {
		out.Spec.Affinity = &corev1.Affinity{}
	}
	if out.Spec.Affinity != nil {
		out.Spec.Affinity.NodeAffinity = nodeAffinity
		if updated.Spec.Affinity == nil && equality.Semantic.DeepEqual(*out.Spec.Affinity, corev1.Affinity{}) {
			out.Spec.Affinity = nil
		}
	}
	copyResources(out.Spec.Containers, updated.Spec.Containers)
	copyResources(out.Spec.InitContainers, updated.Spec.InitContainers)
	return out
}

func copyResources(dst, src []corev1.Container) {
	if len(dst) != len(src) {
		return
	}
	for i := range dst {
		dst[i].Resources = src[i].Resources
	}
}
