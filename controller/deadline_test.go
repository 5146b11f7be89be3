package controller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// TestSyncJobPastDeadline pins activeDeadlineSeconds (§5.6, rule S10); case
// names follow upstream's TestSyncJobPastDeadline where it has the case.
func TestSyncJobPastDeadline(t *testing.T) {
	cases := []struct {
		name string
		// Job
		parallelism, completions, backoffLimit int32
		deadline                               int64
		startedAgo                             time.Duration // 0: no startTime yet
		suspend                                bool
		suspendedCondition                     bool // carries Suspended=True
		// pods
		running, succeeded, failed int
		// expected
		wantDeletions   int
		wantActive      int32
		wantFailed      int32
		wantTerminating int32
		wantConditions  []string
		wantEvents      []string
		wantTimers      []time.Duration
		wantStartTime   *metav1.Time // nil: unset
	}{
		{name: "activeDeadlineSeconds less than single pod execution",
			parallelism: 1, completions: 1, backoffLimit: 6, deadline: 10, startedAgo: 15 * time.Second,
			running:       1,
			wantDeletions: 1, wantFailed: 1, wantTerminating: 1,
			wantConditions: []string{"FailureTarget=True:DeadlineExceeded"},
			wantEvents:     []string{"Normal SuccessfulDelete Deleted pod: running-0"},
			wantStartTime:  timeAgo(15 * time.Second)},
		{name: "activeDeadlineSeconds bigger than single pod execution",
			parallelism: 1, completions: 2, backoffLimit: 6, deadline: 10, startedAgo: 15 * time.Second,
			running: 1, succeeded: 1,
			wantDeletions: 1, wantFailed: 1, wantTerminating: 1,
			wantConditions: []string{"FailureTarget=True:DeadlineExceeded"},
			wantEvents:     []string{"Normal SuccessfulDelete Deleted pod: running-0"},
			wantStartTime:  timeAgo(15 * time.Second)},
		{name: "activeDeadlineSeconds times-out before any pod starts",
			parallelism: 1, completions: 1, backoffLimit: 6, deadline: 10, startedAgo: 10 * time.Second,
			wantConditions: []string{"FailureTarget=True:DeadlineExceeded", "Failed=True:DeadlineExceeded"},
			wantEvents:     []string{"Warning DeadlineExceeded Job was active longer than specified deadline"},
			wantStartTime:  timeAgo(10 * time.Second)},
		{name: "activeDeadlineSeconds with backofflimit reach",
			parallelism: 1, completions: 1, backoffLimit: 0, deadline: 1, startedAgo: 10 * time.Second,
			failed:         1,
			wantFailed:     1,
			wantConditions: []string{"FailureTarget=True:BackoffLimitExceeded", "Failed=True:BackoffLimitExceeded"},
			wantEvents:     []string{"Warning BackoffLimitExceeded Job has reached the specified backoff limit"},
			wantStartTime:  timeAgo(10 * time.Second)},
		{name: "activeDeadlineSeconds is not triggered when Job is suspended",
			parallelism: 1, completions: 2, backoffLimit: 6, deadline: 10, suspend: true,
			suspendedCondition: true,
			wantConditions:     []string{"Suspended=True:JobSuspended"}},
		{name: "deadline ahead: requeued for the time left",
			parallelism: 1, completions: 1, backoffLimit: 6, deadline: 60, startedAgo: 20 * time.Second,
			running:       1,
			wantActive:    1,
			wantTimers:    []time.Duration{40 * time.Second},
			wantStartTime: timeAgo(20 * time.Second)},
		{name: "first sync starts the clock and arms the whole deadline",
			parallelism: 1, completions: 1, backoffLimit: 6, deadline: 40,
			wantActive:    1,
			wantEvents:    []string{"Normal SuccessfulCreate Created pod: job-00001"},
			wantTimers:    []time.Duration{40 * time.Second},
			wantStartTime: timeAgo(0)},
		{name: "deadline passed with retries left still fails the Job",
			parallelism: 2, completions: 4, backoffLimit: 6, deadline: 30, startedAgo: 31 * time.Second,
			running: 2, failed: 1,
			wantDeletions: 2, wantFailed: 3, wantTerminating: 2,
			wantConditions: []string{"FailureTarget=True:DeadlineExceeded"},
			wantEvents:     []string{"Normal SuccessfulDelete Deleted pod: running-0", "Normal SuccessfulDelete Deleted pod: running-1"},
			wantStartTime:  timeAgo(31 * time.Second)},
		{name: "resumed Job is not judged by the startTime it had before the suspend",
			parallelism: 1, completions: 1, backoffLimit: 6, deadline: 10, startedAgo: time.Hour,
			suspendedCondition: true,
			wantActive:         1,
			wantConditions:     []string{"Suspended=False:JobResumed"},
			wantEvents:         []string{"Normal SuccessfulCreate Created pod: job-00001", "Normal Resumed Job resumed"},
			wantTimers:         []time.Duration{10 * time.Second},
			wantStartTime:      timeAgo(0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := newJob(tc.parallelism, ptr.To(tc.completions), tc.backoffLimit)
			job.Spec.ActiveDeadlineSeconds = ptr.To(tc.deadline)
			job.Spec.Suspend = ptr.To(tc.suspend)
			if tc.startedAgo > 0 {
				job.Status.StartTime = timeAgo(tc.startedAgo)
			}
			if tc.suspendedCondition {
				job.Status.Conditions = []batchv1.JobCondition{
					newCondition(batchv1.JobSuspended, v1.ConditionTrue, ReasonJobSuspended, MessageJobSuspended, testNow.Add(-time.Hour))}
			}
			var pods []*v1.Pod
			pods = append(pods, podSet(job, "running", tc.running, v1.PodRunning)...)
			pods = append(pods, podSet(job, "succeeded", tc.succeeded, v1.PodSucceeded)...)
			pods = append(pods, podSet(job, "failed", tc.failed, v1.PodFailed)...)

			got := syncOnce(t, job, pods, nil)

			assert.Equal(t, tc.wantDeletions, got.counts.deletions, "pod deletions")
			require.NotNil(t, got.status, "the sync writes the status")
			assert.Equal(t, tc.wantActive, got.status.Active, "active")
			assert.Equal(t, tc.wantFailed, got.status.Failed, "failed")
			assert.Equal(t, ptr.To(tc.wantTerminating), got.status.Terminating, "terminating")
			assert.Equal(t, tc.wantConditions, conditionSummary(got.status), "conditions")
			assert.ElementsMatch(t, tc.wantEvents, got.events, "events (parallel deletions come in any order)")
			assert.Equal(t, tc.wantTimers, got.timers, "requeues for the deadline")
			assert.Equal(t, tc.wantStartTime, got.status.StartTime, "startTime")
			for _, c := range got.status.Conditions {
				if c.Reason == ReasonDeadlineExceeded {
					assert.Equal(t, MessageDeadlineExceeded, c.Message)
				}
			}
		})
	}
}

// TestDeadlineTimerOfRecreatedJob is field report F16 at the unit level: a
// Job with a 40 s deadline is deleted at t=20 and created again under the
// same name at t=25. The old Job's timer still fires at t=40; it must
// neither fail the new Job (started at t=25) nor cost it its own deadline,
// which passes at t=65.
func TestDeadlineTimerOfRecreatedJob(t *testing.T) {
	old := newJob(1, ptr.To[int32](1), 6)
	old.Spec.ActiveDeadlineSeconds = ptr.To[int64](40)
	f := newFixture(t, old)
	t0 := testNow

	require.NoError(t, f.sync(old))
	assert.Equal(t, []time.Duration{40 * time.Second}, f.queue.delaysOver("ns/job", SyncBatchPeriod), "t=0: timer for t=40")

	// t=20: deleted; t=25: created again, new UID.
	f.clock.SetTime(t0.Add(20 * time.Second))
	require.NoError(t, f.client.BatchV1().Jobs("ns").Delete(f.ctx, "job", metav1.DeleteOptions{}))
	require.NoError(t, f.jobStore.Delete(old))
	f.ctrl.deleteJob(klog.FromContext(f.ctx), old)
	f.clock.SetTime(t0.Add(25 * time.Second))
	recreated := newJob(1, ptr.To[int32](1), 6)
	recreated.UID = "job-uid-2"
	recreated.Spec.ActiveDeadlineSeconds = ptr.To[int64](40)
	recreated.Status.StartTime = ptr.To(metav1.NewTime(f.clock.Now()))
	require.NoError(t, f.jobStore.Add(recreated))
	_, err := f.client.BatchV1().Jobs("ns").Create(f.ctx, recreated, metav1.CreateOptions{})
	require.NoError(t, err)

	// t=40: the old timer fires.
	f.clock.SetTime(t0.Add(40 * time.Second))
	f.queue.delays = map[string][]time.Duration{}
	f.client.ClearActions()
	require.NoError(t, f.sync(recreated))
	st := f.lastStatus()
	require.NotNil(t, st)
	assert.Empty(t, conditionSummary(st), "t=40: the new Job is 15 s old, far from its deadline")
	assert.Equal(t, []time.Duration{25 * time.Second}, f.queue.delaysOver("ns/job", SyncBatchPeriod), "t=40: timer for t=65")

	// t=65: the new Job's own deadline.
	f.clock.SetTime(t0.Add(65 * time.Second))
	stored, err := f.client.BatchV1().Jobs("ns").Get(f.ctx, "job", metav1.GetOptions{})
	require.NoError(t, err)
	require.NoError(t, f.jobStore.Update(stored))
	pods, err := f.client.CoreV1().Pods("ns").List(f.ctx, listAll)
	require.NoError(t, err)
	for i := range pods.Items {
		if p := &pods.Items[i]; p.OwnerReferences[0].UID == recreated.UID {
			require.NoError(t, f.podStore.Add(p)) // the informer catches up
			f.ctrl.expectations.creationObserved(recreated.UID)
		}
	}
	f.client.ClearActions()
	require.NoError(t, f.sync(recreated))
	assert.Equal(t, []string{"FailureTarget=True:DeadlineExceeded"}, conditionSummary(f.lastStatus()), "t=65")
	assert.Equal(t, 1, f.counts().deletions, "t=65: the new Job's pod is stopped")
}
