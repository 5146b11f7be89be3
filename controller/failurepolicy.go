package controller

import (
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
)

// podFailurePolicy (job-semantics.md §5.9) lets a Job tell failures apart.
// Without it every failed pod counts against backoffLimit, so a pod evicted
// by a node drain costs as much as a crash (field report F11). With it, the
// first rule that matches a failed pod decides:
//
//	FailJob    the Job fails at once, reason PodFailurePolicy
//	Ignore     the failure counts toward no limit (it still lengthens the
//	           replacement delay, rule S4); the pod is replaced
//	Count      the failure counts as usual (as when no rule matches)
//	FailIndex  the pod's completion index fails at once (Indexed Jobs with
//	           backoffLimitPerIndex only; perindex.go acts on it)
//
// Rules are matched only against pods that count as failed. A policy makes
// podReplacementPolicy default to Failed (see pods.go), so a pod that is
// being deleted is judged once the kubelet has written its final phase and
// exit codes, never while it is still shutting down.

// Reason and message formats of a FailJob match, as upstream writes them.
const (
	ReasonPodFailurePolicy = "PodFailurePolicy"
	// messageFailJobExitCode: container, pod namespace, pod name, exit code, rule index.
	messageFailJobExitCode = "Container %s for pod %s/%s failed with exit code %d matching FailJob rule at index %d"
	// messageFailJobCondition: pod namespace, pod name, condition type, rule index.
	messageFailJobCondition = "Pod %s/%s has condition %s matching FailJob rule at index %d"
)

// policyMatch is what the pod failure policy says about one failed pod.
type policyMatch struct {
	// action of the first matching rule; empty when no rule matches.
	action batchv1.PodFailurePolicyAction
	// rule is the index of that rule.
	rule int
	// message explains a FailJob match in the words of the Job's condition.
	message string
}

// counted reports whether the failure counts toward backoffLimit and
// status.failed. Only Ignore keeps it out; FailIndex counts too (the index's
// failure is also a failed pod).
func (m policyMatch) counted() bool {
	return m.action != batchv1.PodFailurePolicyActionIgnore
}

// matchFailurePolicy applies the Job's rules, in order, to a failed pod and
// returns the first match. The per-index code asks it too
// (failurePolicyActionForIndex): Ignore and FailIndex act on the pod's
// index there. A NonIndexed Job cannot have a FailIndex rule (the API
// requires backoffLimitPerIndex).
func matchFailurePolicy(job *batchv1.Job, pod *v1.Pod) policyMatch {
	policy := job.Spec.PodFailurePolicy
	if policy == nil {
		return policyMatch{}
	}
	for i, rule := range policy.Rules {
		if !knownAction(rule.Action) {
			// An action added by a newer API than this controller knows:
			// skipping the rule is the only safe reading of it.
			continue
		}
		var message string
		switch {
		case rule.OnExitCodes != nil:
			c := matchExitCodes(pod, rule.OnExitCodes)
			if c == nil {
				continue
			}
			message = fmt.Sprintf(messageFailJobExitCode, c.Name, pod.Namespace, pod.Name, c.State.Terminated.ExitCode, i)
		case len(rule.OnPodConditions) > 0:
			cond := matchPodConditions(pod, rule.OnPodConditions)
			if cond == nil {
				continue
			}
			message = fmt.Sprintf(messageFailJobCondition, pod.Namespace, pod.Name, cond.Type, i)
		default:
			continue
		}
		m := policyMatch{action: rule.Action, rule: i}
		if rule.Action == batchv1.PodFailurePolicyActionFailJob {
			m.message = message
		}
		return m
	}
	return policyMatch{}
}

func knownAction(a batchv1.PodFailurePolicyAction) bool {
	switch a {
	case batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore,
		batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailIndex:
		return true
	}
	return false
}

// matchExitCodes returns the first container that terminated with a
// non-zero exit code the requirement selects: regular containers are
// looked at before init containers, and containerName, when set, narrows
// the search to one of them. Exit code 0 is a success and never matches,
// not even NotIn.
func matchExitCodes(pod *v1.Pod, req *batchv1.PodFailurePolicyOnExitCodesRequirement) *v1.ContainerStatus {
	for _, statuses := range [][]v1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses} {
		for i := range statuses {
			s := &statuses[i]
			if req.ContainerName != nil && *req.ContainerName != s.Name {
				continue
			}
			t := s.State.Terminated
			if t == nil || t.ExitCode == 0 {
				continue
			}
			listed := slices.Contains(req.Values, t.ExitCode)
			switch req.Operator {
			case batchv1.PodFailurePolicyOnExitCodesOpIn:
				if listed {
					return s
				}
			case batchv1.PodFailurePolicyOnExitCodesOpNotIn:
				if !listed {
					return s
				}
			}
		}
	}
	return nil
}

// matchPodConditions returns the first of the pod's conditions that a
// pattern names with the same status (the pod's order decides which one a
// FailJob message reports). The API defaults a pattern's status to True; a
// Job built without the API (a test, an old object) gets the same default.
func matchPodConditions(pod *v1.Pod, patterns []batchv1.PodFailurePolicyOnPodConditionsPattern) *v1.PodCondition {
	for i := range pod.Status.Conditions {
		c := &pod.Status.Conditions[i]
		for _, p := range patterns {
			want := p.Status
			if want == "" {
				want = v1.ConditionTrue
			}
			if c.Type == p.Type && c.Status == want {
				return c
			}
		}
	}
	return nil
}

// failureCounted says whether a pod that is (or is about to be counted as)
// failed counts toward backoffLimit and status.failed: every failure does,
// unless the first matching rule is Ignore.
func failureCounted(job *batchv1.Job, pod *v1.Pod) bool {
	return matchFailurePolicy(job, pod).counted()
}

// failJobDecision is part of step 6: a failed pod that matches a FailJob
// rule fails the Job. Every failed pod is looked at, not only the new ones,
// because the decision must hold in later syncs even after the pod that
// caused it has been counted (it is then kept in the FailureTarget
// condition, which later syncs carry through).
func failJobDecision(job *batchv1.Job, pods []*v1.Pod) *finishing {
	if job.Spec.PodFailurePolicy == nil {
		return nil
	}
	for _, p := range pods {
		if !isPodFailed(p, job) {
			continue
		}
		if m := matchFailurePolicy(job, p); m.action == batchv1.PodFailurePolicyActionFailJob {
			return &finishing{reason: ReasonPodFailurePolicy, message: m.message}
		}
	}
	return nil
}
