package controller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestSuspendJob pins suspend and resume (§5.7, rule S11, field report F17):
// conditions, events, startTime and which pods count.
func TestSuspendJob(t *testing.T) {
	suspendedAnHourAgo := newCondition(batchv1.JobSuspended, v1.ConditionTrue, ReasonJobSuspended, MessageJobSuspended, testNow.Add(-time.Hour))
	resumedAnHourAgo := newCondition(batchv1.JobSuspended, v1.ConditionFalse, ReasonJobResumed, MessageJobResumed, testNow.Add(-time.Hour))
	cases := []struct {
		name string
		// Job
		suspend    bool
		deadline   *int64
		startedAgo time.Duration // 0: no startTime
		conditions []batchv1.JobCondition
		status     batchv1.JobStatus
		// pods
		pods []func(*batchv1.Job) *v1.Pod
		// expected
		wantCreations, wantDeletions int
		wantActive, wantFailed       int32
		wantTerminating              int32
		wantConditions               []string
		wantEvents                   []string
		wantStartTime                *metav1.Time
		wantTimers                   []time.Duration
		// wantLog, when set, is the exact sequence of API writes.
		wantLog []string
	}{
		{name: "job created suspended has no startTime",
			suspend:        true,
			wantConditions: []string{"Suspended=True:JobSuspended"},
			wantEvents:     []string{"Normal Suspended Job suspended"}},
		{name: "suspending a running job deletes its pods without counting them",
			suspend: true, startedAgo: time.Minute,
			pods: []func(*batchv1.Job) *v1.Pod{
				func(j *batchv1.Job) *v1.Pod { return pod(j, "a", v1.PodRunning) },
			},
			wantDeletions: 1, wantTerminating: 1,
			wantConditions: []string{"Suspended=True:JobSuspended"},
			wantEvents:     []string{"Normal SuccessfulDelete Deleted pod: a", "Normal Suspended Job suspended"},
			wantLog: []string{
				`patch pods a {"metadata":{"$deleteFromPrimitiveList/finalizers":["batch.kubernetes.io/job-tracking"],"uid":"uid-a"}}`,
				"delete pods a",
				"update jobs/status",
			}},
		{name: "pods of a suspended job that end failed are not failures",
			suspend: true, conditions: []batchv1.JobCondition{suspendedAnHourAgo},
			pods: []func(*batchv1.Job) *v1.Pod{
				func(j *batchv1.Job) *v1.Pod {
					p := pod(j, "stopped", v1.PodFailed, exited("main", 143), markDeleted)
					p.Finalizers = nil // taken off before the delete
					return p
				},
			},
			wantConditions: []string{"Suspended=True:JobSuspended"}},
		{name: "already suspended: no second event",
			suspend: true, conditions: []batchv1.JobCondition{suspendedAnHourAgo},
			wantConditions: []string{"Suspended=True:JobSuspended"}},
		{name: "resuming a suspended job",
			conditions:    []batchv1.JobCondition{suspendedAnHourAgo},
			wantCreations: 1, wantActive: 1,
			wantConditions: []string{"Suspended=False:JobResumed"},
			wantEvents:     []string{"Normal SuccessfulCreate Created pod: job-00001", "Normal Resumed Job resumed"},
			wantStartTime:  timeAgo(0)},
		{name: "resuming restarts the deadline",
			deadline:      ptr.To[int64](60),
			conditions:    []batchv1.JobCondition{suspendedAnHourAgo},
			wantCreations: 1, wantActive: 1,
			wantConditions: []string{"Suspended=False:JobResumed"},
			wantEvents:     []string{"Normal SuccessfulCreate Created pod: job-00001", "Normal Resumed Job resumed"},
			wantStartTime:  timeAgo(0),
			wantTimers:     []time.Duration{time.Minute}},
		{name: "a job never suspended gets no Suspended condition",
			wantCreations: 1, wantActive: 1,
			wantEvents:    []string{"Normal SuccessfulCreate Created pod: job-00001"},
			wantStartTime: timeAgo(0)},
		{name: "a job resumed earlier keeps its condition and startTime",
			startedAgo: time.Minute, conditions: []batchv1.JobCondition{resumedAnHourAgo},
			pods: []func(*batchv1.Job) *v1.Pod{
				func(j *batchv1.Job) *v1.Pod { return pod(j, "a", v1.PodRunning) },
			},
			wantActive:     1,
			wantConditions: []string{"Suspended=False:JobResumed"},
			wantStartTime:  timeAgo(time.Minute)},
		{name: "suspending a job past its deadline does not fail it",
			suspend: true, deadline: ptr.To[int64](10), startedAgo: time.Minute,
			pods: []func(*batchv1.Job) *v1.Pod{
				func(j *batchv1.Job) *v1.Pod { return pod(j, "a", v1.PodRunning) },
			},
			wantDeletions: 1, wantTerminating: 1,
			wantConditions: []string{"Suspended=True:JobSuspended"},
			wantEvents:     []string{"Normal SuccessfulDelete Deleted pod: a", "Normal Suspended Job suspended"}},
		{name: "suspending a job whose failure is decided still fails it",
			suspend: true, startedAgo: time.Minute,
			status: batchv1.JobStatus{Failed: 7},
			pods: []func(*batchv1.Job) *v1.Pod{
				func(j *batchv1.Job) *v1.Pod { return pod(j, "a", v1.PodRunning) },
			},
			wantDeletions: 1, wantTerminating: 1, wantFailed: 8,
			wantConditions: []string{"FailureTarget=True:BackoffLimitExceeded"},
			wantEvents:     []string{"Normal SuccessfulDelete Deleted pod: a"},
			wantStartTime:  timeAgo(time.Minute)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := newJob(1, ptr.To[int32](1), 6)
			job.Spec.Suspend = ptr.To(tc.suspend)
			job.Spec.ActiveDeadlineSeconds = tc.deadline
			job.Status = tc.status
			job.Status.Conditions = tc.conditions
			if tc.startedAgo > 0 {
				job.Status.StartTime = timeAgo(tc.startedAgo)
			}
			var pods []*v1.Pod
			for _, mk := range tc.pods {
				pods = append(pods, mk(job))
			}

			got := syncOnce(t, job, pods, nil)

			assert.Equal(t, tc.wantCreations, got.counts.creations, "pod creations")
			assert.Equal(t, tc.wantDeletions, got.counts.deletions, "pod deletions")
			if tc.wantLog != nil {
				assert.Equal(t, tc.wantLog, got.log, "API writes")
			}
			require.NotNil(t, got.status, "the sync writes the status")
			assert.Equal(t, tc.wantActive, got.status.Active, "active")
			assert.Equal(t, tc.wantFailed, got.status.Failed, "failed")
			assert.Equal(t, int32(0), got.status.Succeeded, "succeeded")
			assert.Equal(t, ptr.To(tc.wantTerminating), got.status.Terminating, "terminating")
			assert.Equal(t, tc.wantConditions, conditionSummary(got.status), "conditions")
			assert.Equal(t, tc.wantEvents, got.events, "events")
			assert.Equal(t, tc.wantStartTime, got.status.StartTime, "startTime")
			assert.Equal(t, tc.wantTimers, got.timers, "requeues")
			for _, c := range got.status.Conditions {
				if c.Type == batchv1.JobSuspended && c.Status == v1.ConditionTrue {
					assert.Equal(t, MessageJobSuspended, c.Message)
				}
				if c.Type == batchv1.JobSuspended && c.Status == v1.ConditionFalse {
					assert.Equal(t, MessageJobResumed, c.Message)
				}
			}
		})
	}
}
