package controller

import (
	"fmt"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxControllerNameLength is the longest spec.managedBy the API accepts.
const MaxControllerNameLength = 63

// ValidateControllerName checks that name could appear in a Job's
// spec.managedBy (a domain-prefixed path such as "kjob.dev/job-controller",
// at most 63 characters) and is not the value reserved for the built-in
// controller, which a second controller must never claim for itself.
func ValidateControllerName(name string) error {
	if name == "" {
		return fmt.Errorf("must not be empty")
	}
	if name == BuiltInControllerName {
		return fmt.Errorf("%q is reserved for the built-in Job controller", name)
	}
	var msgs []string
	for _, e := range validation.IsDomainPrefixedPath(field.NewPath("managedBy"), name) {
		msgs = append(msgs, e.Detail)
	}
	if len(name) > MaxControllerNameLength {
		msgs = append(msgs, fmt.Sprintf("must be no more than %d characters", MaxControllerNameLength))
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%q: %s", name, strings.Join(msgs, "; "))
	}
	return nil
}

// ManagedByPredicate returns the Config.Manages rule of a controller that
// runs under the name `name`:
//
//   - a Job whose spec.managedBy is name is always managed;
//   - a Job with no spec.managedBy, or with the built-in controller's
//     reserved value, is managed only when alsoBuiltIn is set, that is when
//     the cluster's own Job controller is switched off and this controller
//     stands in for it;
//   - a Job whose spec.managedBy names anything else is never managed.
//
// spec.managedBy is immutable, so a Job's answer never changes over its life.
func ManagedByPredicate(name string, alsoBuiltIn bool) (func(*batchv1.Job) bool, error) {
	if err := ValidateControllerName(name); err != nil {
		return nil, err
	}
	return func(job *batchv1.Job) bool {
		switch {
		case job.Spec.ManagedBy == nil || *job.Spec.ManagedBy == BuiltInControllerName:
			return alsoBuiltIn
		default:
			return *job.Spec.ManagedBy == name
		}
	}, nil
}
