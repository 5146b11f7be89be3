package sim

import (
	"fmt"
	"strings"
	"time"
	// The apiserver carries its own zone database; so does the simulator,
	// so a timeZone is known or not whatever the host has installed.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// The batch/v1 CronJob API as the apiserver serves it (Kubernetes 1.37):
// its defaults and what it rejects on create and update.

// maxCronJobNameLength leaves room in 63 characters for the "-<minutes>"
// suffix of the Job names a CronJob makes.
const maxCronJobNameLength = 52

// DefaultCronJob fills in the fields the apiserver defaults on a CronJob:
// concurrencyPolicy Allow, suspend false, and history limits of 3
// succeeded and 1 failed Job. It changes only fields that are unset.
func DefaultCronJob(cj *batchv1.CronJob) {
	spec := &cj.Spec
	if spec.ConcurrencyPolicy == "" {
		spec.ConcurrencyPolicy = batchv1.AllowConcurrent
	}
	if spec.Suspend == nil {
		spec.Suspend = ptr.To(false)
	}
	if spec.SuccessfulJobsHistoryLimit == nil {
		spec.SuccessfulJobsHistoryLimit = ptr.To[int32](3)
	}
	if spec.FailedJobsHistoryLimit == nil {
		spec.FailedJobsHistoryLimit = ptr.To[int32](1)
	}
}

// ValidateCronJob reports what the apiserver rejects when a CronJob is
// created: a name too long for its Jobs' names, a schedule that does not
// parse or names its own zone (TZ=, CRON_TZ=), an unknown timeZone, an
// unknown concurrencyPolicy, negative numbers, and a Job template that is
// not a valid Job spec or chooses its own selector.
func ValidateCronJob(cj *batchv1.CronJob) field.ErrorList {
	metaPath := field.NewPath("metadata")
	errs := apivalidation.ValidateObjectMeta(&cj.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, metaPath)
	if len(cj.Name) > maxCronJobNameLength {
		errs = append(errs, field.Invalid(metaPath.Child("name"), cj.Name,
			fmt.Sprintf("must be no more than %d characters", maxCronJobNameLength)))
	}
	return append(errs, validateCronJobSpec(&cj.Spec, false)...)
}

// ValidateCronJobUpdate reports what the apiserver rejects when cj replaces
// old. The name length is not checked again, and a TZ= in the schedule is
// tolerated if the stored schedule had one already (CronJobs from before
// the rule), though never together with timeZone.
func ValidateCronJobUpdate(cj, old *batchv1.CronJob) field.ErrorList {
	errs := apivalidation.ValidateObjectMetaUpdate(&cj.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, apivalidation.ValidateObjectMeta(&cj.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))...)
	return append(errs, validateCronJobSpec(&cj.Spec, strings.Contains(old.Spec.Schedule, "TZ"))...)
}

func validateCronJobSpec(spec *batchv1.CronJobSpec, allowTZInSchedule bool) field.ErrorList {
	path := field.NewPath("spec")
	var errs field.ErrorList
	errs = append(errs, validateCronSchedule(spec, allowTZInSchedule, path.Child("schedule"))...)
	errs = append(errs, validateTimeZone(spec.TimeZone, path.Child("timeZone"))...)
	switch spec.ConcurrencyPolicy {
	case batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
	case "":
		errs = append(errs, field.Required(path.Child("concurrencyPolicy"), ""))
	default:
		errs = append(errs, field.NotSupported(path.Child("concurrencyPolicy"), spec.ConcurrencyPolicy,
			[]batchv1.ConcurrencyPolicy{batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent}))
	}
	errs = append(errs, nonNegative(spec.StartingDeadlineSeconds, path.Child("startingDeadlineSeconds"))...)
	errs = append(errs, nonNegative(spec.SuccessfulJobsHistoryLimit, path.Child("successfulJobsHistoryLimit"))...)
	errs = append(errs, nonNegative(spec.FailedJobsHistoryLimit, path.Child("failedJobsHistoryLimit"))...)
	return append(errs, validateJobTemplateSpec(&spec.JobTemplate, path.Child("jobTemplate"))...)
}

func validateCronSchedule(spec *batchv1.CronJobSpec, allowTZ bool, path *field.Path) field.ErrorList {
	schedule := spec.Schedule
	if schedule == "" {
		return field.ErrorList{field.Required(path, "")}
	}
	var errs field.ErrorList
	if _, err := cron.ParseStandard(schedule); err != nil {
		errs = append(errs, field.Invalid(path, schedule, err.Error()))
	}
	if strings.Contains(schedule, "TZ") {
		switch {
		case spec.TimeZone != nil:
			errs = append(errs, field.Invalid(path, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
		case !allowTZ:
			errs = append(errs, field.Invalid(path, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
		}
	}
	return errs
}

func validateTimeZone(zone *string, path *field.Path) field.ErrorList {
	switch {
	case zone == nil:
		return nil
	case *zone == "":
		return field.ErrorList{field.Invalid(path, *zone, "timeZone must be nil or non-empty string")}
	case *zone == "Local":
		return field.ErrorList{field.Invalid(path, *zone, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones")}
	}
	if _, err := time.LoadLocation(*zone); err != nil {
		return field.ErrorList{field.Invalid(path, *zone, err.Error())}
	}
	return nil
}

// validateJobTemplateSpec checks a CronJob's Job template as a Job spec
// (ValidateJob's rules) whose selector the apiserver will generate for each
// Job: a selector or manualSelector of its own is refused.
func validateJobTemplateSpec(tmpl *batchv1.JobTemplateSpec, path *field.Path) field.ErrorList {
	metaPath := path.Child("metadata")
	errs := metav1validation.ValidateLabels(tmpl.Labels, metaPath.Child("labels"))
	errs = append(errs, apivalidation.ValidateAnnotations(tmpl.Annotations, metaPath.Child("annotations"))...)
	specPath := path.Child("spec")
	if tmpl.Spec.Selector != nil {
		errs = append(errs, field.Invalid(specPath.Child("selector"), tmpl.Spec.Selector, "`selector` will be auto-generated"))
	}
	if tmpl.Spec.ManualSelector != nil && *tmpl.Spec.ManualSelector {
		errs = append(errs, field.NotSupported(specPath.Child("manualSelector"), *tmpl.Spec.ManualSelector, []string{"nil", "false"}))
	}
	return append(errs, validateJobSpec(&tmpl.Spec, specPath)...)
}
