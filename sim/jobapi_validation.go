package sim

import (
	"fmt"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Limits of the batch/v1 Job API (Kubernetes 1.37).
const (
	maxIndexedParallelism = 100000
	// Above this many completions, a Job with a per-index backoff limit must
	// bound maxFailedIndexes, and both it and parallelism must stay small.
	maxCompletionsWithoutFailedIndexLimit = 100000
	maxParallelismWithPerIndexLimit       = 10000
	maxFailedIndexesLimit                 = 100000
	maxFailedIndexesForManyCompletions    = 10000
	maxPodFailurePolicyRules              = 20
	maxPodFailurePolicyConditions         = 20
	maxExitCodeValues                     = 255
	maxSuccessPolicyRules                 = 20
	maxSucceededIndexesLength             = 64 * 1024
	maxManagedByLength                    = 63
)

// ValidateJob reports what the apiserver rejects in a Job, each error naming
// the field and the reason: the metadata, the spec's numbers and enums, the
// pod template, the selector, and the rules of pod failure and success
// policies. The Job should be defaulted first (DefaultJob), as the apiserver
// does. Checks of what the apiserver generates itself (the selector's
// controller-uid) run only once the Job has a uid.
func ValidateJob(job *batchv1.Job) field.ErrorList {
	metaPath := field.NewPath("metadata")
	errs := apivalidation.ValidateObjectMeta(&job.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, metaPath)
	errs = append(errs, validateIndexedJobName(job, metaPath.Child("name"))...)
	errs = append(errs, validateGeneratedSelector(job)...)
	return append(errs, validateJobSpec(&job.Spec, field.NewPath("spec"))...)
}

// validateIndexedJobName checks that the hostname of the last index's pods,
// "<name>-<completions-1>", is a DNS label.
func validateIndexedJobName(job *batchv1.Job, path *field.Path) field.ErrorList {
	spec := job.Spec
	if !isIndexed(&spec) || spec.Completions == nil || *spec.Completions <= 0 || job.Name == "" {
		return nil
	}
	hostname := fmt.Sprintf("%s-%d", job.Name, *spec.Completions-1)
	if problems := validation.IsDNS1123Label(hostname); len(problems) > 0 {
		return field.ErrorList{field.Invalid(path, job.Name, fmt.Sprintf(
			"the pods of an Indexed Job are named <job name>-<index>, and %q is not a valid DNS label: %s",
			hostname, strings.Join(problems, "; ")))}
	}
	return nil
}

// validateGeneratedSelector checks that a generated selector and the
// template labels agree on the Job's name and uid. It fails when the user set
// one of those labels to another value, or chose a selector without
// manualSelector: true.
func validateGeneratedSelector(job *batchv1.Job) field.ErrorList {
	if job.UID == "" || (job.Spec.ManualSelector != nil && *job.Spec.ManualSelector) {
		return nil
	}
	selectorPath := field.NewPath("spec", "selector")
	if job.Spec.Selector == nil {
		return field.ErrorList{field.Required(selectorPath, "")}
	}
	var errs field.ErrorList
	want := generatedJobLabels(job)
	labelsPath := field.NewPath("spec", "template", "metadata", "labels")
	for _, key := range sets.List(sets.KeySet(want)) {
		if got := job.Spec.Template.Labels[key]; got != want[key] {
			errs = append(errs, field.Invalid(labelsPath.Key(key), got,
				fmt.Sprintf("must be %q: the apiserver generates this label (set spec.manualSelector: true to choose labels and selector yourself)", want[key])))
		}
	}
	if selector, err := metav1.LabelSelectorAsSelector(job.Spec.Selector); err == nil && !selector.Matches(labels.Set(want)) {
		errs = append(errs, field.Invalid(selectorPath, job.Spec.Selector,
			"`selector` not auto-generated: a selector of your own needs spec.manualSelector: true"))
	}
	return errs
}

func validateJobSpec(spec *batchv1.JobSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, nonNegative(spec.Parallelism, path.Child("parallelism"))...)
	errs = append(errs, nonNegative(spec.Completions, path.Child("completions"))...)
	errs = append(errs, nonNegative(spec.ActiveDeadlineSeconds, path.Child("activeDeadlineSeconds"))...)
	errs = append(errs, nonNegative(spec.BackoffLimit, path.Child("backoffLimit"))...)
	errs = append(errs, nonNegative(spec.BackoffLimitPerIndex, path.Child("backoffLimitPerIndex"))...)
	errs = append(errs, nonNegative(spec.MaxFailedIndexes, path.Child("maxFailedIndexes"))...)
	errs = append(errs, nonNegative(spec.TTLSecondsAfterFinished, path.Child("ttlSecondsAfterFinished"))...)
	errs = append(errs, validateCompletionMode(spec, path)...)
	errs = append(errs, validatePerIndexBackoff(spec, path)...)
	errs = append(errs, validatePodReplacementPolicy(spec, path.Child("podReplacementPolicy"))...)
	errs = append(errs, validatePodFailurePolicy(spec, path.Child("podFailurePolicy"))...)
	errs = append(errs, validateSuccessPolicy(spec, path.Child("successPolicy"))...)
	errs = append(errs, validateManagedBy(spec.ManagedBy, path.Child("managedBy"))...)
	errs = append(errs, validateJobTemplate(spec, path.Child("template"))...)
	return append(errs, validateJobSelector(spec, path)...)
}

func nonNegative[T int32 | int64](v *T, path *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	return apivalidation.ValidateNonnegativeField(int64(*v), path)
}

func isIndexed(spec *batchv1.JobSpec) bool {
	return spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion
}

func validateCompletionMode(spec *batchv1.JobSpec, path *field.Path) field.ErrorList {
	if spec.CompletionMode == nil {
		return nil
	}
	switch *spec.CompletionMode {
	case batchv1.NonIndexedCompletion:
		return nil
	case batchv1.IndexedCompletion:
		var errs field.ErrorList
		if spec.Completions == nil {
			errs = append(errs, field.Required(path.Child("completions"), "when completionMode is Indexed"))
		}
		if spec.Parallelism != nil && *spec.Parallelism > maxIndexedParallelism {
			errs = append(errs, field.Invalid(path.Child("parallelism"), *spec.Parallelism,
				fmt.Sprintf("must be less than or equal to %d when completionMode is Indexed", maxIndexedParallelism)))
		}
		return errs
	default:
		return field.ErrorList{field.NotSupported(path.Child("completionMode"), *spec.CompletionMode,
			[]batchv1.CompletionMode{batchv1.NonIndexedCompletion, batchv1.IndexedCompletion})}
	}
}

func validatePerIndexBackoff(spec *batchv1.JobSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	perIndex, maxFailed := spec.BackoffLimitPerIndex, spec.MaxFailedIndexes
	if perIndex != nil && !isIndexed(spec) {
		errs = append(errs, field.Invalid(path.Child("backoffLimitPerIndex"), *perIndex, "requires completionMode Indexed"))
	}
	if maxFailed != nil {
		maxPath := path.Child("maxFailedIndexes")
		if perIndex == nil {
			errs = append(errs, field.Required(path.Child("backoffLimitPerIndex"), "when maxFailedIndexes is set"))
		}
		if !isIndexed(spec) {
			errs = append(errs, field.Invalid(maxPath, *maxFailed, "requires completionMode Indexed"))
		}
		if spec.Completions != nil && *maxFailed > *spec.Completions {
			errs = append(errs, field.Invalid(maxPath, *maxFailed, "must be less than or equal to completions"))
		}
		if *maxFailed > maxFailedIndexesLimit {
			errs = append(errs, field.Invalid(maxPath, *maxFailed, fmt.Sprintf("must be less than or equal to %d", maxFailedIndexesLimit)))
		}
	}
	if perIndex != nil && spec.Completions != nil && *spec.Completions > maxCompletionsWithoutFailedIndexLimit {
		if maxFailed == nil {
			errs = append(errs, field.Required(path.Child("maxFailedIndexes"),
				fmt.Sprintf("when backoffLimitPerIndex is set and completions is above %d", maxCompletionsWithoutFailedIndexLimit)))
		} else if *maxFailed > maxFailedIndexesForManyCompletions {
			errs = append(errs, field.Invalid(path.Child("maxFailedIndexes"), *maxFailed,
				fmt.Sprintf("must be less than or equal to %d when completions is above %d", maxFailedIndexesForManyCompletions, maxCompletionsWithoutFailedIndexLimit)))
		}
		if spec.Parallelism != nil && *spec.Parallelism > maxParallelismWithPerIndexLimit {
			errs = append(errs, field.Invalid(path.Child("parallelism"), *spec.Parallelism,
				fmt.Sprintf("must be less than or equal to %d when backoffLimitPerIndex is set and completions is above %d", maxParallelismWithPerIndexLimit, maxCompletionsWithoutFailedIndexLimit)))
		}
	}
	return errs
}

func validatePodReplacementPolicy(spec *batchv1.JobSpec, path *field.Path) field.ErrorList {
	policy := spec.PodReplacementPolicy
	if policy == nil {
		return nil
	}
	if spec.PodFailurePolicy != nil {
		if *policy != batchv1.Failed {
			return field.ErrorList{field.NotSupported(path, *policy, []batchv1.PodReplacementPolicy{batchv1.Failed})}
		}
		return nil
	}
	switch *policy {
	case batchv1.TerminatingOrFailed, batchv1.Failed:
		return nil
	}
	return field.ErrorList{field.NotSupported(path, *policy, []batchv1.PodReplacementPolicy{batchv1.TerminatingOrFailed, batchv1.Failed})}
}

func validatePodFailurePolicy(spec *batchv1.JobSpec, path *field.Path) field.ErrorList {
	policy := spec.PodFailurePolicy
	if policy == nil {
		return nil
	}
	var errs field.ErrorList
	rulesPath := path.Child("rules")
	if len(policy.Rules) > maxPodFailurePolicyRules {
		errs = append(errs, field.TooMany(rulesPath, len(policy.Rules), maxPodFailurePolicyRules))
	}
	containers := sets.New[string]()
	for _, c := range spec.Template.Spec.Containers {
		containers.Insert(c.Name)
	}
	for _, c := range spec.Template.Spec.InitContainers {
		containers.Insert(c.Name)
	}
	for i, rule := range policy.Rules {
		rulePath := rulesPath.Index(i)
		switch rule.Action {
		case batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore, batchv1.PodFailurePolicyActionCount:
		case batchv1.PodFailurePolicyActionFailIndex:
			if spec.BackoffLimitPerIndex == nil {
				errs = append(errs, field.Invalid(rulePath.Child("action"), rule.Action, "requires spec.backoffLimitPerIndex"))
			}
		default:
			errs = append(errs, field.NotSupported(rulePath.Child("action"), rule.Action, []batchv1.PodFailurePolicyAction{
				batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionFailIndex,
				batchv1.PodFailurePolicyActionIgnore, batchv1.PodFailurePolicyActionCount}))
		}
		switch {
		case rule.OnExitCodes != nil && len(rule.OnPodConditions) > 0:
			errs = append(errs, field.Invalid(rulePath, field.OmitValueType{}, "must set only one of onExitCodes and onPodConditions"))
		case rule.OnExitCodes == nil && len(rule.OnPodConditions) == 0:
			errs = append(errs, field.Invalid(rulePath, field.OmitValueType{}, "must set one of onExitCodes and onPodConditions"))
		}
		if rule.OnExitCodes != nil {
			errs = append(errs, validateOnExitCodes(rule.OnExitCodes, containers, rulePath.Child("onExitCodes"))...)
		}
		errs = append(errs, validateOnPodConditions(rule.OnPodConditions, rulePath.Child("onPodConditions"))...)
	}
	return errs
}

func validateOnExitCodes(req *batchv1.PodFailurePolicyOnExitCodesRequirement, containers sets.Set[string], path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch req.Operator {
	case batchv1.PodFailurePolicyOnExitCodesOpIn, batchv1.PodFailurePolicyOnExitCodesOpNotIn:
	default:
		errs = append(errs, field.NotSupported(path.Child("operator"), req.Operator, []batchv1.PodFailurePolicyOnExitCodesOperator{
			batchv1.PodFailurePolicyOnExitCodesOpIn, batchv1.PodFailurePolicyOnExitCodesOpNotIn}))
	}
	if name := req.ContainerName; name != nil && !containers.Has(*name) {
		errs = append(errs, field.Invalid(path.Child("containerName"), *name, "must name a container or init container of the pod template"))
	}
	valuesPath := path.Child("values")
	switch n := len(req.Values); {
	case n == 0:
		errs = append(errs, field.Invalid(valuesPath, req.Values, "must list at least one exit code"))
	case n > maxExitCodeValues:
		errs = append(errs, field.TooMany(valuesPath, n, maxExitCodeValues))
	}
	for j, v := range req.Values {
		if req.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && v == 0 {
			errs = append(errs, field.Invalid(valuesPath.Index(j), v, "must not be 0 with the In operator (0 means success)"))
		}
		if j > 0 {
			switch prev := req.Values[j-1]; {
			case v == prev:
				errs = append(errs, field.Duplicate(valuesPath.Index(j), v))
			case v < prev:
				errs = append(errs, field.Invalid(valuesPath.Index(j), v, "must be in ascending order"))
			}
		}
	}
	return errs
}

func validateOnPodConditions(patterns []batchv1.PodFailurePolicyOnPodConditionsPattern, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(patterns) > maxPodFailurePolicyConditions {
		errs = append(errs, field.TooMany(path, len(patterns), maxPodFailurePolicyConditions))
	}
	for j, p := range patterns {
		patternPath := path.Index(j)
		if p.Type == "" {
			errs = append(errs, field.Required(patternPath.Child("type"), ""))
		} else {
			for _, problem := range validation.IsQualifiedName(string(p.Type)) {
				errs = append(errs, field.Invalid(patternPath.Child("type"), p.Type, problem))
			}
		}
		switch p.Status {
		case corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown:
		default:
			errs = append(errs, field.NotSupported(patternPath.Child("status"), p.Status,
				[]corev1.ConditionStatus{corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown}))
		}
	}
	return errs
}

func validateSuccessPolicy(spec *batchv1.JobSpec, path *field.Path) field.ErrorList {
	policy := spec.SuccessPolicy
	if policy == nil {
		return nil
	}
	if !isIndexed(spec) {
		return field.ErrorList{field.Invalid(path, field.OmitValueType{}, "requires completionMode Indexed")}
	}
	var errs field.ErrorList
	rulesPath := path.Child("rules")
	switch n := len(policy.Rules); {
	case n == 0:
		errs = append(errs, field.Required(rulesPath, "at least one rule"))
	case n > maxSuccessPolicyRules:
		errs = append(errs, field.TooMany(rulesPath, n, maxSuccessPolicyRules))
	}
	for i, rule := range policy.Rules {
		rulePath := rulesPath.Index(i)
		if rule.SucceededIndexes == nil && rule.SucceededCount == nil {
			errs = append(errs, field.Required(rulePath, "at least one of succeededCount and succeededIndexes"))
			continue
		}
		listed := int64(-1)
		if idx := rule.SucceededIndexes; idx != nil {
			indexesPath := rulePath.Child("succeededIndexes")
			if len(*idx) > maxSucceededIndexesLength {
				errs = append(errs, field.TooLong(indexesPath, "", maxSucceededIndexesLength))
			} else if n, err := countIndexIntervals(*idx, spec.Completions); err != nil {
				errs = append(errs, field.Invalid(indexesPath, *idx, err.Error()))
			} else {
				listed = n
			}
		}
		if count := rule.SucceededCount; count != nil {
			countPath := rulePath.Child("succeededCount")
			switch {
			case *count < 0:
				errs = append(errs, field.Invalid(countPath, *count, "must be greater than or equal to 0"))
			case spec.Completions != nil && *count > *spec.Completions:
				errs = append(errs, field.Invalid(countPath, *count, "must be less than or equal to completions"))
			case listed >= 0 && int64(*count) > listed:
				errs = append(errs, field.Invalid(countPath, *count,
					fmt.Sprintf("must be less than or equal to the number of indexes in succeededIndexes (%d)", listed)))
			}
		}
	}
	return errs
}

// countIndexIntervals parses an index list such as "0-2,5,7-9" (ascending,
// not overlapping, every index below completions) and counts its indexes.
func countIndexIntervals(list string, completions *int32) (int64, error) {
	var count int64
	last := int64(-1)
	for _, part := range strings.Split(list, ",") {
		first, end, isRange := strings.Cut(part, "-")
		lo, err := strconv.ParseInt(first, 10, 64)
		if err != nil || lo < 0 {
			return 0, fmt.Errorf("%q is not a non-negative index", first)
		}
		hi := lo
		if isRange {
			if hi, err = strconv.ParseInt(end, 10, 64); err != nil || hi < lo {
				return 0, fmt.Errorf("%q is not an interval of indexes", part)
			}
		}
		if lo <= last {
			return 0, fmt.Errorf("intervals must be in ascending order and must not overlap, but %q follows %d", part, last)
		}
		if completions != nil && hi >= int64(*completions) {
			return 0, fmt.Errorf("index %d is out of range: completions is %d", hi, *completions)
		}
		count += hi - lo + 1
		last = hi
	}
	return count, nil
}

func validateManagedBy(managedBy *string, path *field.Path) field.ErrorList {
	if managedBy == nil {
		return nil
	}
	errs := validation.IsDomainPrefixedPath(path, *managedBy)
	if len(*managedBy) > maxManagedByLength {
		errs = append(errs, field.TooLong(path, "", maxManagedByLength))
	}
	return errs
}

// validateJobTemplate checks the parts of the pod template a Job depends on:
// its labels, restartPolicy, and containers that can run at all.
func validateJobTemplate(spec *batchv1.JobSpec, path *field.Path) field.ErrorList {
	tmpl := &spec.Template
	errs := metav1validation.ValidateLabels(tmpl.Labels, path.Child("metadata", "labels"))
	errs = append(errs, apivalidation.ValidateAnnotations(tmpl.Annotations, path.Child("metadata", "annotations"))...)
	podPath := path.Child("spec")
	restartPath := podPath.Child("restartPolicy")
	switch policy := tmpl.Spec.RestartPolicy; {
	case policy != corev1.RestartPolicyOnFailure && policy != corev1.RestartPolicyNever:
		errs = append(errs, field.NotSupported(restartPath, policy, []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}))
	case spec.PodFailurePolicy != nil && policy != corev1.RestartPolicyNever:
		errs = append(errs, field.Invalid(restartPath, policy, "only \"Never\" is supported when podFailurePolicy is set"))
	}
	if len(tmpl.Spec.Containers) == 0 {
		errs = append(errs, field.Required(podPath.Child("containers"), ""))
	}
	names := sets.New[string]()
	errs = append(errs, validateContainers(tmpl.Spec.InitContainers, names, podPath.Child("initContainers"))...)
	return append(errs, validateContainers(tmpl.Spec.Containers, names, podPath.Child("containers"))...)
}

// validateContainers checks names (DNS labels, unique across all containers
// of the pod, hence the shared set) and that each has an image.
func validateContainers(containers []corev1.Container, names sets.Set[string], path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, c := range containers {
		p := path.Index(i)
		switch {
		case c.Name == "":
			errs = append(errs, field.Required(p.Child("name"), ""))
		case names.Has(c.Name):
			errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
		default:
			for _, problem := range validation.IsDNS1123Label(c.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), c.Name, problem))
			}
		}
		names.Insert(c.Name)
		if strings.TrimSpace(c.Image) == "" {
			errs = append(errs, field.Required(p.Child("image"), ""))
		}
	}
	return errs
}

// validateJobSelector checks that the selector is well formed and selects
// the pods the template makes. A Job not yet created and without
// manualSelector may leave it unset: the apiserver generates it.
func validateJobSelector(spec *batchv1.JobSpec, path *field.Path) field.ErrorList {
	selectorPath := path.Child("selector")
	if spec.Selector == nil {
		if spec.ManualSelector != nil && *spec.ManualSelector {
			return field.ErrorList{field.Required(selectorPath, "when manualSelector is true")}
		}
		return nil
	}
	errs := metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, selectorPath)
	if len(errs) > 0 {
		return errs
	}
	selector, err := metav1.LabelSelectorAsSelector(spec.Selector)
	if err != nil {
		return field.ErrorList{field.Invalid(selectorPath, spec.Selector, err.Error())}
	}
	if !selector.Matches(labels.Set(spec.Template.Labels)) {
		return field.ErrorList{field.Invalid(path.Child("template", "metadata", "labels"), spec.Template.Labels,
			"`selector` does not match template `labels`")}
	}
	return nil
}
