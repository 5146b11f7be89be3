package controller

import (
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
)

// podReplacementPolicy (job-semantics.md §5.12, rules S2 and S6) says when a
// pod that is being deleted may be replaced:
//
//	TerminatingOrFailed  at once: the pod counts as failed as soon as it has a
//	                     deletionTimestamp (nothing will make it succeed), and
//	                     its replacement waits only for the replacement delay;
//	                     for a while more pods run than parallelism allows
//	Failed               only once the kubelet reports phase Failed: until then
//	                     the terminating pod holds its place, and manageJob
//	                     subtracts status.terminating from the pods to create
//
// Failed is the default when the Job has a pod failure policy, because the
// policy can only judge a pod by its final phase, exit codes and conditions.
// status.terminating is reported under both policies.

// replacementPolicy returns the effective podReplacementPolicy. The apiserver
// defaults it, but a Job built by hand (tests, old objects) may leave it
// empty; the default then follows the same rule as the API. A pod failure
// policy always means Failed, whatever the field says: the API accepts no
// other value with a policy, and the policy needs final phases to judge.
func replacementPolicy(job *batchv1.Job) batchv1.PodReplacementPolicy {
	if job.Spec.PodFailurePolicy != nil {
		return batchv1.Failed
	}
	if p := job.Spec.PodReplacementPolicy; p != nil && *p != "" {
		return *p
	}
	return batchv1.TerminatingOrFailed
}

// isPodFailed says whether pod counts as a failure of job (rule S2): a Failed
// phase always does; under TerminatingOrFailed so does a pod that is being
// deleted and has not succeeded, because nothing will ever make it succeed.
func isPodFailed(p *v1.Pod, job *batchv1.Job) bool {
	if p.Status.Phase == v1.PodFailed {
		return true
	}
	if replacementPolicy(job) == batchv1.Failed {
		return false
	}
	return p.DeletionTimestamp != nil && p.Status.Phase != v1.PodSucceeded
}
