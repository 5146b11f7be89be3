package controller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

func TestPodFailureDelay(t *testing.T) {
	cases := []struct {
		failures int
		want     time.Duration
	}{
		{failures: 1, want: 10 * time.Second},
		{failures: 2, want: 20 * time.Second},
		{failures: 3, want: 40 * time.Second},
		{failures: 6, want: 320 * time.Second},
		{failures: 7, want: 600 * time.Second}, // 640 s capped at 10 min
		{failures: 1000, want: 600 * time.Second},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, podFailureDelay(tc.failures), "failures=%d", tc.failures)
	}
}

func TestBackoffRemaining(t *testing.T) {
	clk := testingclock.NewFakeClock(testNow)
	cases := []struct {
		name   string
		record backoffRecord
		want   time.Duration
	}{
		{name: "no failures, no wait", record: backoffRecord{}, want: 0},
		{name: "measured from the failure, not from now", record: backoffRecord{failuresSinceSuccess: 1, lastFailure: testNow.Add(-4 * time.Second)}, want: 6 * time.Second},
		{name: "second failure doubles", record: backoffRecord{failuresSinceSuccess: 2, lastFailure: testNow}, want: 20 * time.Second},
		{name: "delay already over", record: backoffRecord{failuresSinceSuccess: 1, lastFailure: testNow.Add(-time.Minute)}, want: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.record.remaining(clk))
		})
	}
}

func finishedAt(phase v1.PodPhase, t time.Time) *v1.Pod {
	return &v1.Pod{Status: v1.PodStatus{Phase: phase, ContainerStatuses: []v1.ContainerStatus{{
		State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{FinishedAt: metav1.NewTime(t)}},
	}}}}
}

func TestNextBackoffRecord(t *testing.T) {
	at := func(s int) time.Time { return testNow.Add(time.Duration(s) * time.Second) }
	cases := []struct {
		name      string
		prev      backoffRecord
		succeeded []*v1.Pod
		failed    []*v1.Pod
		want      backoffRecord
	}{
		{name: "failures add up", prev: backoffRecord{failuresSinceSuccess: 1, lastFailure: at(0)},
			failed: []*v1.Pod{finishedAt(v1.PodFailed, at(5)), finishedAt(v1.PodFailed, at(3))},
			want:   backoffRecord{failuresSinceSuccess: 3, lastFailure: at(5)}},
		{name: "a success resets the count", prev: backoffRecord{failuresSinceSuccess: 4, lastFailure: at(0)},
			succeeded: []*v1.Pod{finishedAt(v1.PodSucceeded, at(10))},
			want:      backoffRecord{}},
		{name: "failures after the success still count", prev: backoffRecord{failuresSinceSuccess: 4, lastFailure: at(0)},
			succeeded: []*v1.Pod{finishedAt(v1.PodSucceeded, at(10))},
			failed:    []*v1.Pod{finishedAt(v1.PodFailed, at(8)), finishedAt(v1.PodFailed, at(12))},
			want:      backoffRecord{failuresSinceSuccess: 1, lastFailure: at(12)}},
		{name: "nothing new keeps the record", prev: backoffRecord{failuresSinceSuccess: 2, lastFailure: at(1)},
			want: backoffRecord{failuresSinceSuccess: 2, lastFailure: at(1)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, nextBackoffRecord(tc.prev, tc.succeeded, tc.failed))
		})
	}
}

// TestFinishTime pins the order of preference of §5.4.
func TestFinishTime(t *testing.T) {
	created := testNow.Add(-time.Hour)
	base := func() *v1.Pod {
		return &v1.Pod{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)}}
	}
	cases := []struct {
		name string
		pod  func() *v1.Pod
		want time.Time
	}{
		{name: "latest container finish when all finished", pod: func() *v1.Pod {
			p := base()
			p.Status.ContainerStatuses = []v1.ContainerStatus{
				{State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{FinishedAt: metav1.NewTime(testNow.Add(-2 * time.Second))}}},
				{State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{FinishedAt: metav1.NewTime(testNow.Add(-time.Second))}}},
			}
			return p
		}, want: testNow.Add(-time.Second)},
		{name: "ready turned false when a container still runs", pod: func() *v1.Pod {
			p := base()
			p.Status.ContainerStatuses = []v1.ContainerStatus{{State: v1.ContainerState{Running: &v1.ContainerStateRunning{}}}}
			p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionFalse, LastTransitionTime: metav1.NewTime(testNow.Add(-5 * time.Second))}}
			return p
		}, want: testNow.Add(-5 * time.Second)},
		{name: "deletion minus the grace period", pod: func() *v1.Pod {
			p := base()
			p.DeletionTimestamp = ptr.To(metav1.NewTime(testNow))
			p.DeletionGracePeriodSeconds = ptr.To[int64](30)
			return p
		}, want: testNow.Add(-30 * time.Second)},
		{name: "creation as the last resort", pod: base, want: created},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.True(t, tc.want.Equal(finishTime(tc.pod())), "got %v", finishTime(tc.pod()))
		})
	}
}
