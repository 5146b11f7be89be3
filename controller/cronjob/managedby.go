package cronjob

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
)

// Which CronJobs this controller runs.
//
// A Job can name its controller in spec.managedBy, and the built-in Job
// controller honours it. A batch/v1 CronJob has no such field, and
// kube-controller-manager's cronjob-controller runs every CronJob it sees:
// nothing on the CronJob can keep it away. So this controller must never
// run beside it; switch it off (--controllers=*,-cronjob-controller).
//
// What the ManagedByAnnotation does is keep several kjob controllers (or
// kjob and another replacement that honours it) apart:
//
//   - a CronJob whose annotation names this controller is run by it;
//   - a CronJob whose annotation names anything else is never run by it;
//   - a CronJob without the annotation is run only by the controller
//     standing in for the built-in one (ManagesUnannotated, the default).
//
// The annotation can change at any time, unlike spec.managedBy, so the
// rule is checked at every sync, not only when events arrive.

// ManagesUnannotated is the default rule, that of a stand-in for the
// built-in controller: every CronJob without a ManagedByAnnotation.
func ManagesUnannotated(cj *batchv1.CronJob) bool {
	_, named := cj.Annotations[ManagedByAnnotation]
	return !named
}

// ManagedByPredicate returns the Config.Manages rule of a controller that
// runs under the name `name`: CronJobs whose ManagedByAnnotation is name,
// and, with alsoUnannotated, those without the annotation too.
func ManagedByPredicate(name string, alsoUnannotated bool) (func(*batchv1.CronJob) bool, error) {
	if name == "" {
		return nil, fmt.Errorf("a controller name must not be empty")
	}
	return func(cj *batchv1.CronJob) bool {
		value, named := cj.Annotations[ManagedByAnnotation]
		if !named {
			return alsoUnannotated
		}
		return value == name
	}, nil
}
