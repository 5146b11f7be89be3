package controller

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/utils/ptr"
)

// successPolicy (§5.11). Some Indexed workloads are done before every index
// has succeeded: a leader-worker job is done when the leader (index 0) is,
// a search when any N shards found an answer. A success policy names that
// point. Its rules are tried in order; the first one met ends the Job with
// SuccessCriteriaMet (reason SuccessPolicy), the pods still running are
// terminated, and Complete follows with the same reason once none is left
// (rule S5).

// Condition reason of a Job ended by its success policy. The message names
// the rule: MessageSuccessPolicyPrefix followed by " <rule index>".
const (
	ReasonSuccessPolicy        = "SuccessPolicy"
	MessageSuccessPolicyPrefix = "Matched rules at index"
)

// successPolicyOutcome returns the success decided by the first rule of
// job's success policy that the succeeded indexes meet, or nil.
//
//   - succeededIndexes alone: every listed index succeeded;
//   - succeededIndexes with succeededCount: at least that many of the
//     listed indexes succeeded;
//   - succeededCount alone: at least that many indexes succeeded.
//
// No index succeeded means no rule is met, not even succeededCount: 0.
func successPolicyOutcome(job *batchv1.Job, succeeded intervals) *finishing {
	policy := job.Spec.SuccessPolicy
	if policy == nil || len(succeeded) == 0 {
		return nil
	}
	completions := int(ptr.Deref(job.Spec.Completions, 0))
	for i, rule := range policy.Rules {
		if meetsRule(rule, succeeded, completions) {
			return &finishing{success: true, reason: ReasonSuccessPolicy,
				message: fmt.Sprintf("%s %d", MessageSuccessPolicyPrefix, i)}
		}
	}
	return nil
}

func meetsRule(rule batchv1.SuccessPolicyRule, succeeded intervals, completions int) bool {
	if rule.SucceededIndexes == nil {
		return rule.SucceededCount != nil && succeeded.total() >= int(*rule.SucceededCount)
	}
	// The apiserver validated the list against completions when the Job was
	// created; an elastic Job that shrank since keeps only what is in range.
	listed, _ := parseIntervals(*rule.SucceededIndexes, completions)
	if len(listed) == 0 {
		return false
	}
	done := listed.intersectionSize(succeeded)
	if rule.SucceededCount != nil {
		return done >= int(*rule.SucceededCount)
	}
	return done == listed.total()
}
