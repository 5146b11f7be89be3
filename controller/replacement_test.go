package controller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// TestPodReplacementPolicy pins when a terminating pod is replaced (§5.12,
// rules S2 and S6) and that status.terminating is reported either way.
func TestPodReplacementPolicy(t *testing.T) {
	cases := []struct {
		name              string
		parallelism       int32
		completions       *int32
		policy            *batchv1.PodReplacementPolicy // nil: left to the default
		withFailurePolicy bool
		pods              []func(*batchv1.Job) *v1.Pod
		// expected
		wantCreations                           int
		wantActive, wantTerminating, wantFailed int32
		wantSucceeded                           int32
	}{
		{name: "TerminatingOrFailed: a terminating pod is a failure and is replaced at once",
			parallelism: 1, completions: ptr.To[int32](1), policy: ptr.To(batchv1.TerminatingOrFailed),
			pods:          []func(*batchv1.Job) *v1.Pod{terminatingPod},
			wantCreations: 1, wantActive: 1, wantTerminating: 1, wantFailed: 1},
		{name: "Failed: a terminating pod holds its place",
			parallelism: 1, completions: ptr.To[int32](1), policy: ptr.To(batchv1.Failed),
			pods:            []func(*batchv1.Job) *v1.Pod{terminatingPod},
			wantTerminating: 1},
		{name: "Failed: the pod is replaced once it has failed",
			parallelism: 1, completions: ptr.To[int32](1), policy: ptr.To(batchv1.Failed),
			pods: []func(*batchv1.Job) *v1.Pod{func(j *batchv1.Job) *v1.Pod {
				return pod(j, "gone", v1.PodFailed, markDeleted)
			}},
			wantCreations: 1, wantActive: 1, wantFailed: 1},
		{name: "Failed: only the pods beyond the terminating ones are created",
			parallelism: 3, completions: ptr.To[int32](3), policy: ptr.To(batchv1.Failed),
			pods:          []func(*batchv1.Job) *v1.Pod{terminatingPod},
			wantCreations: 2, wantActive: 2, wantTerminating: 1},
		{name: "more terminating pods than parallelism; PodFailurePolicy used",
			parallelism: 1, completions: ptr.To[int32](1), withFailurePolicy: true,
			pods: []func(*batchv1.Job) *v1.Pod{terminatingPod, func(j *batchv1.Job) *v1.Pod {
				return pod(j, "stopping-2", v1.PodRunning, markDeleted)
			}},
			wantTerminating: 2},
		{name: "a pod failure policy means Failed even with the field unset",
			parallelism: 1, completions: ptr.To[int32](1), withFailurePolicy: true,
			pods:            []func(*batchv1.Job) *v1.Pod{terminatingPod},
			wantTerminating: 1},
		{name: "the default without a policy is TerminatingOrFailed",
			parallelism: 1, completions: ptr.To[int32](1),
			pods:          []func(*batchv1.Job) *v1.Pod{terminatingPod},
			wantCreations: 1, wantActive: 1, wantTerminating: 1, wantFailed: 1},
		{name: "a terminating pod that succeeds is a success under TerminatingOrFailed",
			parallelism: 1, completions: ptr.To[int32](2), policy: ptr.To(batchv1.TerminatingOrFailed),
			pods: []func(*batchv1.Job) *v1.Pod{func(j *batchv1.Job) *v1.Pod {
				return pod(j, "done", v1.PodSucceeded, markDeleted)
			}},
			wantCreations: 1, wantActive: 1, wantSucceeded: 1},
		{name: "WQ job: recreate pods when terminating or failed",
			parallelism: 1, policy: ptr.To(batchv1.TerminatingOrFailed),
			pods:          []func(*batchv1.Job) *v1.Pod{terminatingPod},
			wantCreations: 1, wantActive: 1, wantTerminating: 1, wantFailed: 1},
		{name: "WQ job: recreate pods when failed",
			parallelism: 1, policy: ptr.To(batchv1.Failed),
			pods:            []func(*batchv1.Job) *v1.Pod{terminatingPod},
			wantTerminating: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := newJob(tc.parallelism, tc.completions, 6)
			job.Spec.PodReplacementPolicy = tc.policy
			if tc.withFailurePolicy {
				job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{onExitCodes(failJob, opIn, 42)}}
			}
			job.Status.StartTime = timeAgo(time.Minute)
			var pods []*v1.Pod
			for _, mk := range tc.pods {
				pods = append(pods, mk(job))
			}
			got := syncOnce(t, job, pods, nil)
			assert.Equal(t, tc.wantCreations, got.counts.creations, "pod creations")
			assert.Zero(t, got.counts.deletions, "pod deletions")
			require.NotNil(t, got.status, "the sync writes the status")
			assert.Equal(t, tc.wantActive, got.status.Active, "active")
			assert.Equal(t, ptr.To(tc.wantTerminating), got.status.Terminating, "terminating")
			assert.Equal(t, tc.wantFailed, got.status.Failed, "failed")
			assert.Equal(t, tc.wantSucceeded, got.status.Succeeded, "succeeded")
		})
	}
}

// terminatingPod is a pod of j that was asked to stop and still runs.
func terminatingPod(j *batchv1.Job) *v1.Pod { return pod(j, "stopping", v1.PodRunning, markDeleted) }

func TestReplacementPolicyDefault(t *testing.T) {
	job := newJob(1, nil, 6)
	job.Spec.PodReplacementPolicy = nil
	assert.Equal(t, batchv1.TerminatingOrFailed, replacementPolicy(job), "no policy, no field")
	job.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
	assert.Equal(t, batchv1.Failed, replacementPolicy(job), "the field")
	job.Spec.PodReplacementPolicy = ptr.To(batchv1.TerminatingOrFailed)
	job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{}
	assert.Equal(t, batchv1.Failed, replacementPolicy(job), "a pod failure policy always means Failed")
}
