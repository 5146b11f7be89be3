package main

import (
	"slices"
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

// Each concurrency policy with Jobs that run longer than the period (7
// minutes on a five-minute schedule), and the history limits.

func slot(minutes int) time.Time { return simAt(time.Duration(minutes) * time.Minute) }

// Forbid: a start time that finds a Job running is skipped and
// lastScheduleTime stays; when the Job ends, the most recent skipped start
// time runs at once, late (S14, F19). 00:20 is never run: by the time the
// 00:15 Job ends, 00:25 is the most recent start time.
func TestForbidSkipsAndCatchesUp(t *testing.T) {
	c := newCronSim(t, scriptedCronJob("forbid", "*/5 * * * *", batchv1.ForbidConcurrent, 7*time.Minute))

	c.until(10*time.Minute + time.Second)
	assert.Equal(t, slot(5), c.cronJob("forbid").Status.LastScheduleTime.UTC(), "00:10 skipped: lastScheduleTime stays")
	assert.Len(t, c.jobs(), 1)

	c.until(30*time.Minute + time.Second)
	jobs := c.jobs()
	assert.Equal(t, []string{jobFor("forbid", slot(5)), jobFor("forbid", slot(10)), jobFor("forbid", slot(15)), jobFor("forbid", slot(25))},
		jobNames(jobs), "one Job per run, named for the start time it stands for")
	created, finished := c.timeline()
	assert.Equal(t, 5*time.Minute+cronjob.NextScheduleDelta, created[jobs[0].Name], "on time")
	for i := 1; i < len(jobs); i++ {
		prev, next := jobs[i-1].Name, jobs[i].Name
		require.Contains(t, finished, prev)
		assert.Equal(t, finished[prev], created[next], "%s started as soon as %s ended, never beside it", next, prev)
	}
	for _, tick := range []string{"10m0.1s", "15m0.1s", "20m0.1s", "25m0.1s", "30m0.1s"} {
		assert.Contains(t, c.progress.String(), "[+"+tick+"] cronjob/forbid  Normal JobAlreadyActive", "the %s start time found a Job running", tick)
	}
	assert.Equal(t, slot(25), c.cronJob("forbid").Status.LastScheduleTime.UTC())
}

// Replace: at each start time the running Job is deleted, with its pods,
// before the new one is created.
func TestReplaceDeletesBeforeCreating(t *testing.T) {
	c := newCronSim(t, scriptedCronJob("replace", "*/5 * * * *", batchv1.ReplaceConcurrent, 7*time.Minute))

	c.until(16 * time.Minute)
	j5, j10, j15 := jobFor("replace", slot(5)), jobFor("replace", slot(10)), jobFor("replace", slot(15))
	writes := c.writes("jobs")
	// A sync on a cache that has not seen the last create yet may try it
	// again; the name makes that an AlreadyExists, never a second Job.
	writes = slices.Compact(writes)
	assert.Equal(t, []string{"create " + j5, "delete " + j5, "create " + j10, "delete " + j10, "create " + j15}, writes)
	assert.Equal(t, []string{j15}, jobNames(c.jobs()))
	assert.Equal(t, []string{j15}, refNames(c.cronJob("replace").Status.Active))
	for _, p := range c.pods() {
		assert.Equal(t, j15, p.Labels[batchv1.JobNameLabel], "the replaced Jobs' pods are gone: %s", p.Name)
	}
	assert.Equal(t, int32(2), eventCount(c.events(cronjob.ReasonSuccessfulDelete)))
}

// Allow: Jobs overlap.
func TestAllowOverlaps(t *testing.T) {
	c := newCronSim(t, scriptedCronJob("allow", "*/5 * * * *", batchv1.AllowConcurrent, 7*time.Minute))

	c.until(11 * time.Minute)
	assert.Equal(t, []string{jobFor("allow", slot(5)), jobFor("allow", slot(10))}, refNames(c.cronJob("allow").Status.Active))
	running := 0
	for _, p := range c.pods() {
		if p.Status.Phase == corev1.PodRunning {
			running++
		}
	}
	assert.Equal(t, 2, running)
}

// F21: history limits 2 and 1, runs alternating between success and
// failure (backoffLimit 2, so three Error pods per failed Job). After every
// minute at most 2 Complete and 1 Failed Jobs remain, the newest; deleted
// Jobs take their pods; the Error pods left are the retained failed Job's.
func TestHistoryLimitsF21(t *testing.T) {
	cj := scriptedCronJob("history", "*/1 * * * *", batchv1.AllowConcurrent, 5*time.Second, func(cj *batchv1.CronJob) {
		cj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](2)
		cj.Spec.FailedJobsHistoryLimit = ptr.To[int32](1)
		cj.Spec.JobTemplate.Spec.BackoffLimit = ptr.To[int32](2)
	})
	c := newCronSim(t, cj)
	for m := 1; m <= 10; m++ {
		// The template decides the outcome of the Jobs made from now on;
		// the Jobs made before keep the template they were made from.
		code := map[bool]string{true: "0", false: "1"}[m%2 == 1]
		cur := c.cronJob("history")
		cur.Spec.JobTemplate.Spec.Template.Annotations["sim.kjob.dev/exit-codes"] = code
		_, err := c.client.BatchV1().CronJobs(metav1.NamespaceDefault).Update(c.ctx, cur, metav1.UpdateOptions{})
		require.NoError(t, err)

		c.until(time.Duration(m)*time.Minute + 55*time.Second)
		complete, failed, _ := byOutcome(c.jobs())
		assert.LessOrEqual(t, len(complete), 2, "minute %d: %v", m, complete)
		assert.LessOrEqual(t, len(failed), 1, "minute %d: %v", m, failed)
	}

	complete, failed, running := byOutcome(c.jobs())
	assert.Empty(t, running)
	assert.Equal(t, []string{jobFor("history", slot(7)), jobFor("history", slot(9))}, complete, "the newest two successes")
	assert.Equal(t, []string{jobFor("history", slot(10))}, failed, "the newest failure")
	errorPods := 0
	for _, p := range c.pods() {
		job := p.Labels[batchv1.JobNameLabel]
		assert.Contains(t, append(complete, failed...), job, "pod %s belongs to a kept Job", p.Name)
		if p.Status.Phase == corev1.PodFailed {
			errorPods++
			assert.Equal(t, failed[0], job)
		}
	}
	assert.Equal(t, 3, errorPods, "backoffLimit 2: three Error pods, all of the kept failed Job")
}
