package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/controller/cronjob"
)

// The CronJob field reports F18–F22 of the project's scenario list, played on
// the simulator with their expected values. F20's controller latency is
// pinned on a fake clock in controller/cronjob (TestFieldReportF20); here
// it is the requeue that fires right at the start time. F21 is
// TestHistoryLimitsF21.

// F18: Forbid, and a first pod that never starts (standing in for an image
// that cannot be pulled: the pod stays Pending, which is not a failure).
func TestForbidStuckPodF18(t *testing.T) {
	stuck := scriptedCronJob("stuck", "*/1 * * * *", batchv1.ForbidConcurrent, 5*time.Second, func(cj *batchv1.CronJob) {
		cj.Spec.JobTemplate.Spec.Template.Annotations["sim.kjob.dev/start-delay"] = "240h"
	})
	c := newCronSim(t, stuck)

	c.until(2*time.Minute + 30*time.Second)
	fixed := c.cronJob("stuck")
	delete(fixed.Spec.JobTemplate.Spec.Template.Annotations, "sim.kjob.dev/start-delay")
	_, err := c.client.BatchV1().CronJobs(metav1.NamespaceDefault).Update(c.ctx, fixed, metav1.UpdateOptions{})
	require.NoError(t, err)

	c.until(5*time.Minute + time.Second)
	j1 := jobFor("stuck", slot(1))
	jobs := c.jobs()
	require.Equal(t, []string{j1}, jobNames(jobs), "exactly one Job through 00:05")
	assert.Equal(t, []string{j1}, refNames(c.cronJob("stuck").Status.Active))
	for _, tick := range []string{"2m0.1s", "3m0.1s", "4m0.1s", "5m0.1s"} {
		assert.Contains(t, c.progress.String(), "[+"+tick+"] cronjob/stuck  Normal JobAlreadyActive", "at %s", tick)
	}
	assert.Equal(t, "240h", jobs[0].Spec.Template.Annotations["sim.kjob.dev/start-delay"], "J1 keeps the template it was made from")
	assert.Equal(t, "Running", jobStatus(&jobs[0]), "Pending is not failure")
	assert.Equal(t, int32(0), jobs[0].Status.Failed)

	// Deleting J1 (kubectl delete job: background) frees the CronJob: the
	// most recent start time, 00:05, runs at once with the fixed template.
	background := metav1.DeletePropagationBackground
	require.NoError(t, c.client.BatchV1().Jobs(metav1.NamespaceDefault).Delete(c.ctx, j1, metav1.DeleteOptions{PropagationPolicy: &background}))
	c.until(5*time.Minute + 30*time.Second)
	jobs = c.jobs()
	require.Equal(t, []string{jobFor("stuck", slot(5))}, jobNames(jobs))
	assert.Equal(t, "Complete", jobStatus(&jobs[0]), "the fixed template runs")
	assert.Equal(t, int32(1), eventCount(c.events(cronjob.ReasonMissingJob)), "the deleted Job left status.active")
}

// F19: an hourly Forbid CronJob whose 01:00 Job runs until 02:20.
func TestForbidRunsASkippedSlotLateF19(t *testing.T) {
	long := func(deadline *int64) *batchv1.CronJob {
		return scriptedCronJob("hourly", "0 * * * *", batchv1.ForbidConcurrent, 80*time.Minute, func(cj *batchv1.CronJob) {
			cj.Spec.StartingDeadlineSeconds = deadline
		})
	}
	j := func(hour int) string { return jobFor("hourly", simAt(time.Duration(hour)*time.Hour)) }

	t.Run("a: no deadline, the 02:00 run starts when 01:00 ends", func(t *testing.T) {
		c := newCronSim(t, long(nil))
		c.until(2*time.Hour + time.Minute)
		assert.Equal(t, []string{j(1)}, jobNames(c.jobs()), "nothing at 02:00")
		assert.Equal(t, simAt(time.Hour), c.cronJob("hourly").Status.LastScheduleTime.UTC(), "lastScheduleTime stays at 01:00")

		c.until(2*time.Hour + 30*time.Minute)
		assert.Equal(t, []string{j(1), j(2)}, jobNames(c.jobs()), "one Job for the skipped start time, none more")
		created, finished := c.timeline()
		assert.Equal(t, finished[j(1)], created[j(2)], "started the moment 01:00 ended")
		assert.InDelta(t, (2*time.Hour + 20*time.Minute).Seconds(), created[j(2)].Seconds(), 5, "at about 02:20")
		assert.Equal(t, simAt(2*time.Hour), c.cronJob("hourly").Status.LastScheduleTime.UTC())
	})
	t.Run("b: a 600 s deadline drops the 02:00 run; the next is at 03:00", func(t *testing.T) {
		c := newCronSim(t, long(ptr.To[int64](600)))
		c.until(3*time.Hour + time.Minute)
		assert.Equal(t, []string{j(1), j(3)}, jobNames(c.jobs()))
		created, _ := c.timeline()
		assert.Equal(t, 3*time.Hour+cronjob.NextScheduleDelta, created[j(3)])
		missed := c.events(cronjob.ReasonMissSchedule)
		require.NotEmpty(t, missed, "the dropped start time is reported (docs/cronjob.md, decision C2)")
		assert.Equal(t, "Missed scheduled time to start a job: Thu, 01 Jan 2026 02:00:00 +0000", missed[0].Message)
		assert.Equal(t, corev1.EventTypeWarning, missed[0].Type)
	})
}

// F20: a daily CronJob with startingDeadlineSeconds 10 runs every day,
// four days out of four: the controller wakes at the start time itself
// (+100 ms), not on a poll.
func TestShortDeadlineRunsDailyF20(t *testing.T) {
	c := newCronSim(t, scriptedCronJob("daily", "1 0 * * *", batchv1.AllowConcurrent, 5*time.Second, func(cj *batchv1.CronJob) {
		cj.Spec.StartingDeadlineSeconds = ptr.To[int64](10)
	}))
	c.until(3*24*time.Hour + 2*time.Minute)
	created, _ := c.timeline()
	var want []string
	for day := range 4 {
		start := time.Duration(day)*24*time.Hour + time.Minute
		want = append(want, jobFor("daily", simAt(start)))
		assert.Equal(t, start+cronjob.NextScheduleDelta, created[jobFor("daily", simAt(start))], "day %d", day+1)
	}
	assert.Equal(t, want[1:], jobNames(c.jobs()), "four runs; the history keeps three")
	assert.Empty(t, c.events(cronjob.ReasonMissSchedule))
}

// F22: Replace, pods that sleep 300 s, and a Job started by hand from the
// CronJob at 00:01:30.
func TestReplaceAndAManualJobF22(t *testing.T) {
	c := newCronSim(t, scriptedCronJob("report", "*/1 * * * *", batchv1.ReplaceConcurrent, 300*time.Second))
	c.until(time.Minute + 30*time.Second)
	j1 := jobFor("report", slot(1))
	require.Equal(t, []string{j1}, jobNames(c.jobs()))
	c.createManualJob("manual-1", c.cronJob("report"))

	c.until(2*time.Minute + time.Second)
	j2 := jobFor("report", slot(2))
	assert.Equal(t, []string{"manual-1", j2}, jobNames(c.jobs()), "J1 replaced by J2; manual-1 untouched")
	assert.Equal(t, []string{j2}, refNames(c.cronJob("report").Status.Active))
	unexpected := c.events(cronjob.ReasonUnexpectedJob)
	require.NotEmpty(t, unexpected)
	assert.Equal(t, "Saw a job that the controller did not create or forgot: manual-1", unexpected[0].Message)
	assert.Equal(t, corev1.EventTypeWarning, unexpected[0].Type)

	c.until(2*time.Minute + 35*time.Second)
	var running []string
	for _, p := range c.pods() {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			running = append(running, p.Labels[batchv1.JobNameLabel])
		}
	}
	assert.ElementsMatch(t, []string{"manual-1", j2}, running, "J1's pod is gone with it")

	// manual-1 survives every replacement, finishes, and then counts in
	// the history like any other child Job.
	c.until(7 * time.Minute)
	var manual *batchv1.Job
	for _, j := range c.jobs() {
		if j.Name == "manual-1" {
			manual = &j
		}
	}
	require.NotNil(t, manual, "never replaced")
	assert.Equal(t, "Complete", jobStatus(manual))
	assert.NotContains(t, refNames(c.cronJob("report").Status.Active), "manual-1")
	assert.True(t, c.cronJob("report").Status.LastSuccessfulTime.Equal(manual.Status.CompletionTime), "its success counts")
}
