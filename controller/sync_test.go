package controller

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// TestSyncJob pins the NonIndexed behaviours of upstream's TestControllerSyncJob
// (see docs/coverage.md for the mapping), one named case per behaviour.
func TestSyncJob(t *testing.T) {
	type pods struct {
		pending, running, ready, succeeded, failed, terminating int
	}
	cases := []struct {
		name string
		// Job spec
		parallelism  int32
		completions  *int32 // nil: work-queue mode
		backoffLimit int32
		restart      v1.RestartPolicy
		replacement  batchv1.PodReplacementPolicy
		suspend      bool
		deleting     bool
		// state before the sync
		pods             pods
		status           batchv1.JobStatus
		backoff          backoffRecord
		unsatisfied      bool  // expectations not yet met
		createFailsAfter *int  // creates fail once this many succeeded
		patchErr         error // every pod patch fails
		// expected
		wantCreations, wantDeletions, wantPatches int
		wantActive, wantReady, wantTerminating    int32
		wantSucceeded, wantFailed                 int32
		wantUncountedSucceeded                    int
		wantConditions                            []string
		wantStartTime                             bool
		wantRequeue                               bool
	}{
		{name: "job start", parallelism: 2, completions: ptr.To[int32](5), backoffLimit: 6,
			wantCreations: 2, wantActive: 2, wantStartTime: true},
		{name: "WQ job start", parallelism: 2, backoffLimit: 6,
			wantCreations: 2, wantActive: 2, wantStartTime: true},
		{name: "pending pods", parallelism: 2, completions: ptr.To[int32](5), backoffLimit: 6,
			pods: pods{pending: 2}, wantActive: 2, wantStartTime: true},
		{name: "correct # of pods", parallelism: 3, completions: ptr.To[int32](5), backoffLimit: 6,
			pods: pods{running: 3, ready: 2}, wantActive: 3, wantReady: 2, wantStartTime: true},
		{name: "too few active pods", parallelism: 2, completions: ptr.To[int32](5), backoffLimit: 6,
			pods:          pods{running: 1, succeeded: 1},
			wantCreations: 1, wantPatches: 1, wantActive: 2, wantSucceeded: 1, wantStartTime: true},
		{name: "too few active pods and active back-off", parallelism: 1, completions: ptr.To[int32](1), backoffLimit: 6,
			backoff:     backoffRecord{failuresSinceSuccess: 1, lastFailure: testNow},
			wantRequeue: true, wantStartTime: true},
		{name: "too few active pods and no back-offs", parallelism: 1, completions: ptr.To[int32](1), backoffLimit: 6,
			backoff:       backoffRecord{failuresSinceSuccess: 0, lastFailure: testNow},
			wantCreations: 1, wantActive: 1, wantStartTime: true},
		{name: "too few active pods, with controller error", parallelism: 2, completions: ptr.To[int32](5), backoffLimit: 6,
			pods: pods{running: 1, succeeded: 1}, createFailsAfter: ptr.To(0), patchErr: errors.New("fake error"),
			wantCreations: 1, wantPatches: 1, wantActive: 1, wantUncountedSucceeded: 1, wantStartTime: true},
		{name: "too many active pods", parallelism: 2, completions: ptr.To[int32](5), backoffLimit: 6,
			pods:          pods{running: 3},
			wantDeletions: 1, wantPatches: 1, wantActive: 2, wantTerminating: 1, wantStartTime: true},
		{name: "count ready pods when too many active pods", parallelism: 2, completions: ptr.To[int32](5), backoffLimit: 6,
			pods:          pods{running: 3, ready: 3},
			wantDeletions: 1, wantPatches: 1, wantActive: 2, wantReady: 2, wantTerminating: 1, wantStartTime: true},
		{name: "failed + succeed pods: reset backoff delay", parallelism: 2, completions: ptr.To[int32](5), backoffLimit: 6,
			pods:    pods{running: 1, succeeded: 1, failed: 1},
			backoff: backoffRecord{failuresSinceSuccess: 1, lastFailure: testNow},
			// Both pods finished at the same instant, so the success clears the delay.
			wantCreations: 1, wantPatches: 2, wantActive: 2, wantSucceeded: 1, wantFailed: 1, wantStartTime: true},
		{name: "new failed pod", parallelism: 2, completions: ptr.To[int32](5), backoffLimit: 6,
			pods:          pods{running: 1, failed: 1},
			wantCreations: 1, wantPatches: 1, wantActive: 2, wantFailed: 1, wantStartTime: true},
		{name: "no new pod; possible finalizer update of failed pod", parallelism: 1, completions: ptr.To[int32](1), backoffLimit: 6,
			pods:       pods{running: 1},
			status:     batchv1.JobStatus{Failed: 1},
			wantActive: 1, wantFailed: 1, wantStartTime: true},
		{name: "WQ job: recreate pods when failed", parallelism: 1, backoffLimit: 6, replacement: batchv1.Failed,
			pods:            pods{terminating: 1},
			wantTerminating: 1, wantStartTime: true},
		{name: "WQ job: recreate pods when terminating or failed", parallelism: 1, backoffLimit: 6,
			pods:          pods{terminating: 1},
			wantCreations: 1, wantPatches: 1, wantActive: 1, wantTerminating: 1, wantFailed: 1, wantStartTime: true},
		{name: "more terminating pods than parallelism", parallelism: 1, completions: ptr.To[int32](1), backoffLimit: 6,
			replacement: batchv1.Failed, pods: pods{terminating: 2},
			wantTerminating: 2, wantStartTime: true},
		{name: "job finish", parallelism: 2, completions: ptr.To[int32](5), backoffLimit: 6,
			pods:        pods{succeeded: 5},
			wantPatches: 5, wantSucceeded: 5, wantStartTime: true,
			wantConditions: []string{"SuccessCriteriaMet=True:CompletionsReached", "Complete=True:CompletionsReached"}},
		{name: "WQ job finishing", parallelism: 2, backoffLimit: 6,
			pods:        pods{running: 1, succeeded: 1},
			wantPatches: 1, wantActive: 1, wantSucceeded: 1, wantStartTime: true},
		{name: "WQ job all finished", parallelism: 2, backoffLimit: 6,
			pods:        pods{succeeded: 2},
			wantPatches: 2, wantSucceeded: 2, wantStartTime: true,
			wantConditions: []string{"SuccessCriteriaMet=True:CompletionsReached", "Complete=True:CompletionsReached"}},
		{name: "WQ job all finished despite one failure", parallelism: 2, backoffLimit: 6,
			pods:        pods{succeeded: 1, failed: 1},
			wantPatches: 2, wantSucceeded: 1, wantFailed: 1, wantStartTime: true,
			wantConditions: []string{"SuccessCriteriaMet=True:CompletionsReached", "Complete=True:CompletionsReached"}},
		{name: "more active pods than parallelism", parallelism: 2, completions: ptr.To[int32](5), backoffLimit: 6,
			pods:          pods{running: 10},
			wantDeletions: 8, wantPatches: 8, wantActive: 2, wantTerminating: 8, wantStartTime: true},
		{name: "more active pods than remaining completions", parallelism: 3, completions: ptr.To[int32](4), backoffLimit: 6,
			pods:          pods{running: 3, succeeded: 2},
			wantDeletions: 1, wantPatches: 3, wantActive: 2, wantTerminating: 1, wantSucceeded: 2, wantStartTime: true},
		{name: "deleting job", parallelism: 2, completions: ptr.To[int32](5), backoffLimit: 6, deleting: true,
			// Every pod loses the finalizer; only the succeeded one is counted.
			pods:        pods{pending: 1, running: 1, succeeded: 1},
			wantPatches: 3, wantActive: 2, wantSucceeded: 1, wantStartTime: true},
		{name: "limited pods", parallelism: 100, completions: ptr.To[int32](200), backoffLimit: 6,
			createFailsAfter: ptr.To(10),
			// Batches of 1, 2, 4 and 8: the fourth batch fails after 3.
			wantCreations: 15, wantActive: 10, wantStartTime: true},
		{name: "too many job failures", parallelism: 2, completions: ptr.To[int32](5), backoffLimit: 0,
			pods:        pods{failed: 1},
			wantPatches: 1, wantFailed: 1, wantStartTime: true,
			wantConditions: []string{"FailureTarget=True:BackoffLimitExceeded", "Failed=True:BackoffLimitExceeded"}},
		{name: "job failures, unsatisfied expectations", parallelism: 2, completions: ptr.To[int32](5), backoffLimit: 0,
			pods: pods{failed: 1}, unsatisfied: true,
			wantPatches: 1, wantFailed: 1, wantStartTime: true},
		{name: "backoff limit exceeded while pods terminate", parallelism: 2, completions: ptr.To[int32](5), backoffLimit: 0,
			pods:          pods{running: 1, ready: 1, failed: 1},
			wantDeletions: 1, wantPatches: 2, wantTerminating: 1, wantFailed: 2, wantStartTime: true,
			wantConditions: []string{"FailureTarget=True:BackoffLimitExceeded"}},
		{name: "suspending a job with satisfied expectations", parallelism: 2, completions: ptr.To[int32](4), backoffLimit: 6,
			suspend: true, pods: pods{running: 2},
			status:        batchv1.JobStatus{StartTime: ptr.To(metav1.NewTime(testNow.Add(-time.Hour)))},
			wantDeletions: 2, wantPatches: 2, wantTerminating: 2,
			wantConditions: []string{"Suspended=True:JobSuspended"}},
		{name: "suspending a job with unsatisfied expectations", parallelism: 2, completions: ptr.To[int32](4), backoffLimit: 6,
			suspend: true, unsatisfied: true, pods: pods{running: 2},
			status:     batchv1.JobStatus{StartTime: ptr.To(metav1.NewTime(testNow.Add(-time.Hour)))},
			wantActive: 2, wantStartTime: true},
		{name: "resuming a suspended job", parallelism: 2, completions: ptr.To[int32](4), backoffLimit: 6,
			status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{
				newCondition(batchv1.JobSuspended, v1.ConditionTrue, ReasonJobSuspended, MessageJobSuspended, testNow.Add(-time.Hour))}},
			wantCreations: 2, wantActive: 2, wantStartTime: true,
			wantConditions: []string{"Suspended=False:JobResumed"}},
		{name: "suspending a deleted job", parallelism: 2, completions: ptr.To[int32](4), backoffLimit: 6,
			suspend: true, deleting: true, pods: pods{running: 2},
			status:      batchv1.JobStatus{StartTime: ptr.To(metav1.NewTime(testNow.Add(-time.Hour)))},
			wantPatches: 2, wantActive: 2, wantStartTime: true},
		{name: "FailureTarget=False condition added manually is ignored", parallelism: 1, completions: ptr.To[int32](1), backoffLimit: 6,
			pods: pods{running: 1},
			status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{
				newCondition(batchv1.JobFailureTarget, v1.ConditionFalse, "ByHand", "", testNow)}},
			wantActive: 1, wantStartTime: true,
			wantConditions: []string{"FailureTarget=False:ByHand"}},
		{name: "SuccessCriteriaMet=False condition added manually is ignored", parallelism: 1, completions: ptr.To[int32](1), backoffLimit: 6,
			pods: pods{running: 1},
			status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{
				newCondition(batchv1.JobSuccessCriteriaMet, v1.ConditionFalse, "ByHand", "", testNow)}},
			wantActive: 1, wantStartTime: true,
			wantConditions: []string{"SuccessCriteriaMet=False:ByHand"}},
		{name: "OnFailure restarts reach the backoff limit", parallelism: 1, completions: ptr.To[int32](1), backoffLimit: 1,
			restart: v1.RestartPolicyOnFailure, pods: pods{running: 1},
			wantDeletions: 1, wantPatches: 1, wantTerminating: 1, wantFailed: 1, wantStartTime: true,
			wantConditions: []string{"FailureTarget=True:BackoffLimitExceeded"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := newJob(tc.parallelism, tc.completions, tc.backoffLimit)
			if tc.restart != "" {
				job.Spec.Template.Spec.RestartPolicy = tc.restart
			}
			if tc.replacement != "" {
				job.Spec.PodReplacementPolicy = ptr.To(tc.replacement)
			}
			job.Spec.Suspend = ptr.To(tc.suspend)
			if tc.deleting {
				job.DeletionTimestamp = ptr.To(metav1.NewTime(testNow))
			}
			job.Status = tc.status

			objects := []runtime.Object{job}
			add := func(ps []*v1.Pod) {
				for _, p := range ps {
					objects = append(objects, p)
				}
			}
			running := podSet(job, "running", tc.pods.running, v1.PodRunning)
			for i := range min(tc.pods.ready, len(running)) {
				markReady(running[i])
			}
			if tc.restart == v1.RestartPolicyOnFailure {
				for _, p := range running {
					p.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "main", RestartCount: 1}}
				}
			}
			add(podSet(job, "pending", tc.pods.pending, v1.PodPending))
			add(running)
			add(podSet(job, "succeeded", tc.pods.succeeded, v1.PodSucceeded))
			add(podSet(job, "failed", tc.pods.failed, v1.PodFailed))
			add(podSet(job, "terminating", tc.pods.terminating, v1.PodRunning, markDeleted))

			f := newFixture(t, objects...)
			if tc.backoff != (backoffRecord{}) {
				f.ctrl.backoff.set(job.UID, tc.backoff)
			}
			if tc.unsatisfied {
				f.ctrl.expectations.expect(job.UID, 1, 0)
			}
			if tc.createFailsAfter != nil {
				allowed := *tc.createFailsAfter
				f.client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
					if allowed > 0 {
						allowed--
						return false, nil, nil
					}
					return true, nil, errors.New("fake create error")
				})
			}
			if tc.patchErr != nil {
				f.client.PrependReactor("patch", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, tc.patchErr
				})
			}
			f.client.ClearActions()

			err := f.sync(job)
			if tc.createFailsAfter != nil || tc.patchErr != nil {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
			}

			got := f.counts()
			assert.Equal(t, tc.wantCreations, got.creations, "pod creations")
			assert.Equal(t, tc.wantDeletions, got.deletions, "pod deletions")
			assert.Equal(t, tc.wantPatches, got.patches, "pod patches (finalizer removals)")

			st := f.lastStatus()
			require.NotNil(t, st, "the sync writes the status")
			assert.Equal(t, tc.wantActive, st.Active, "active")
			assert.Equal(t, ptr.To(tc.wantReady), st.Ready, "ready")
			assert.Equal(t, ptr.To(tc.wantTerminating), st.Terminating, "terminating")
			assert.Equal(t, tc.wantSucceeded, st.Succeeded, "succeeded")
			assert.Equal(t, tc.wantFailed, st.Failed, "failed")
			assert.Len(t, st.UncountedTerminatedPods.Succeeded, tc.wantUncountedSucceeded, "uncounted succeeded")
			assert.Equal(t, tc.wantConditions, conditionSummary(st), "conditions")
			assert.Equal(t, tc.wantStartTime, st.StartTime != nil, "startTime set")
			if hasTrueCondition(st, batchv1.JobComplete) {
				assert.NotNil(t, st.CompletionTime, "completionTime with Complete")
			} else {
				assert.Nil(t, st.CompletionTime, "completionTime only with Complete")
			}
			timers := f.queue.delaysOver("ns/job", 0)
			assert.Equal(t, tc.wantRequeue, len(timers) > 0, "requeued for the backoff delay: %v", timers)
		})
	}
}
