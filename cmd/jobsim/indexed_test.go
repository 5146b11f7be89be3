package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"

	"github.com/kjob-dev/kjob/controller"
)

// podsByIndex groups pods by their completion index annotation, each group
// oldest first.
func podsByIndex(t *testing.T, pods []v1.Pod) map[string][]v1.Pod {
	t.Helper()
	sortPodsByCreation(pods)
	out := map[string][]v1.Pod{}
	for _, p := range pods {
		ix, ok := p.Annotations[batchv1.JobCompletionIndexAnnotation]
		require.True(t, ok, "%s has no completion index", p.Name)
		out[ix] = append(out[ix], p)
	}
	return out
}

// variant writes a copy of a testdata manifest with replacements applied.
func variant(t *testing.T, name string, replacements ...string) string {
	t.Helper()
	data, err := os.ReadFile(testdata(name))
	require.NoError(t, err)
	text := string(data)
	for i := 0; i+1 < len(replacements); i += 2 {
		require.Contains(t, text, replacements[i])
		text = strings.Replace(text, replacements[i], replacements[i+1], 1)
	}
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

func noTrackingFinalizers(t *testing.T, pods []v1.Pod) {
	t.Helper()
	for _, p := range pods {
		assert.NotContains(t, p.Finalizers, controller.JobTrackingFinalizer, p.Name)
	}
}

// TestIndexedJob: each index gets one pod with the index in its label,
// annotation, hostname and environment (upstream e2e "should create pods
// for an Indexed job with completion indexes and specified hostname").
func TestIndexedJob(t *testing.T) {
	code, out, errOut := runJobsim(t, "-o", "json", "-q", testdata("indexed-job.yaml"))
	require.Equal(t, exitCompleted, code, "stderr: %s", errOut)
	jobs, pods := decodeList(t, out)
	require.Len(t, jobs, 1)
	job := jobs[0]
	assert.Equal(t, "Complete", jobStatus(&job))
	assert.Equal(t, "0-4", job.Status.CompletedIndexes)
	assert.Equal(t, int32(5), job.Status.Succeeded)
	assert.Nil(t, job.Status.FailedIndexes, "failedIndexes only with backoffLimitPerIndex")

	byIndex := podsByIndex(t, pods)
	require.Len(t, byIndex, 5)
	for i := range 5 {
		ix := fmt.Sprint(i)
		require.Len(t, byIndex[ix], 1, "one pod for index %s", ix)
		p := byIndex[ix][0]
		assert.Equal(t, ix, p.Labels[batchv1.JobCompletionIndexAnnotation], p.Name)
		assert.Equal(t, "shards-"+ix, p.Spec.Hostname)
		assert.Equal(t, "shards", p.Spec.Subdomain)
		assert.True(t, strings.HasPrefix(p.Name, "shards-"+ix+"-"), p.Name)
		assert.Contains(t, p.Spec.Containers[0].Env, v1.EnvVar{Name: controller.CompletionIndexEnvName, ValueFrom: &v1.EnvVarSource{
			FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels['batch.kubernetes.io/job-completion-index']"}}})
	}
	noTrackingFinalizers(t, pods)

	// The containers really saw their index and hostname.
	code, out, errOut = runJobsim(t, testdata("indexed-job.yaml"))
	require.Equal(t, exitCompleted, code, "stderr: %s", errOut)
	for i := range 5 {
		assert.Regexp(t, fmt.Sprintf(`shards-%d-[a-z0-9]{5} \| Processing shard %d of 5 on shards-%d\n`, i, i, i), out)
	}
	assert.Contains(t, out, `completed="0-4"`, "the progress lines show the completed indexes")
}

// TestBackoffLimitPerIndexJob: indexes 1 and 3 always fail; each runs
// backoffLimitPerIndex+1 = 2 times, 10 s apart, and the others are not held
// back (e2e "should execute all indexes despite some failing when using
// backoffLimitPerIndex" and "should record the failure-count in the Pod
// annotation when using backoffLimitPerIndex").
func TestBackoffLimitPerIndexJob(t *testing.T) {
	code, out, errOut := runJobsim(t, "-o", "json", "-q", testdata("indexed-backoff-per-index.yaml"))
	require.Equal(t, exitFailed, code, "stderr: %s", errOut)
	jobs, pods := decodeList(t, out)
	require.Len(t, jobs, 1)
	job := jobs[0]
	assert.Equal(t, "0,2", job.Status.CompletedIndexes)
	assert.Equal(t, ptrTo("1,3"), job.Status.FailedIndexes)
	assert.Equal(t, int32(4), job.Status.Failed)
	assert.Equal(t, int32(2), job.Status.Succeeded)
	failed := condition(&job, batchv1.JobFailed)
	require.NotNil(t, failed)
	assert.Equal(t, controller.ReasonFailedIndexes, failed.Reason)
	assert.Equal(t, controller.MessageFailedIndexes, failed.Message)
	require.NotNil(t, condition(&job, batchv1.JobFailureTarget))

	byIndex := podsByIndex(t, pods)
	for _, ix := range []string{"0", "2"} {
		require.Len(t, byIndex[ix], 1, "index %s succeeded at once", ix)
		assert.Equal(t, "0", byIndex[ix][0].Annotations[batchv1.JobIndexFailureCountAnnotation])
	}
	for _, ix := range []string{"1", "3"} {
		attempts := byIndex[ix]
		require.Len(t, attempts, 2, "index %s: backoffLimitPerIndex 1 allows two attempts", ix)
		assert.Equal(t, "0", attempts[0].Annotations[batchv1.JobIndexFailureCountAnnotation])
		assert.Equal(t, "1", attempts[1].Annotations[batchv1.JobIndexFailureCountAnnotation])
		finished := attempts[0].Status.ContainerStatuses[0].State.Terminated.FinishedAt.Time
		assert.Equal(t, 10*time.Second, attempts[1].CreationTimestamp.Sub(finished), "index %s waited its own delay", ix)
	}
	noTrackingFinalizers(t, pods)
}

// TestBackoffLimitPerIndexExponentialDelay: the delays before an index's
// replacements grow 10 s, 20 s … from that index's own failures (upstream
// integration TestBackoffLimitPerIndex_JobPodsCreatedWithExponentialBackoff).
func TestBackoffLimitPerIndexExponentialDelay(t *testing.T) {
	manifest := variant(t, "indexed-backoff-per-index.yaml", "backoffLimitPerIndex: 1", "backoffLimitPerIndex: 2")
	code, out, errOut := runJobsim(t, "-o", "json", "-q", manifest)
	require.Equal(t, exitFailed, code, "stderr: %s", errOut)
	_, pods := decodeList(t, out)
	for _, ix := range []string{"1", "3"} {
		attempts := podsByIndex(t, pods)[ix]
		require.Len(t, attempts, 3, "index %s", ix)
		var gaps []time.Duration
		var counts []string
		for i, p := range attempts {
			counts = append(counts, p.Annotations[batchv1.JobIndexFailureCountAnnotation])
			if i > 0 {
				finished := attempts[i-1].Status.ContainerStatuses[0].State.Terminated.FinishedAt.Time
				gaps = append(gaps, p.CreationTimestamp.Sub(finished))
			}
		}
		assert.Equal(t, []string{"0", "1", "2"}, counts, "index %s", ix)
		assert.Equal(t, []time.Duration{10 * time.Second, 20 * time.Second}, gaps, "index %s", ix)
	}
}

// TestMaxFailedIndexesJob: with maxFailedIndexes 0 the first failed index
// ends the Job, and the pods of the other indexes are terminated (e2e
// "should terminate job execution when the number of failed indexes
// exceeds maxFailedIndexes").
func TestMaxFailedIndexesJob(t *testing.T) {
	manifest := variant(t, "indexed-backoff-per-index.yaml",
		"backoffLimitPerIndex: 1", "backoffLimitPerIndex: 1\n  maxFailedIndexes: 0",
		`sim.kjob.dev/duration: "5s"`, `sim.kjob.dev/duration: "1h"`+"\n        sim.kjob.dev/duration-index-1: \"5s\"")
	code, out, errOut := runJobsim(t, "-o", "json", "-q", manifest)
	require.Equal(t, exitFailed, code, "stderr: %s", errOut)
	jobs, pods := decodeList(t, out)
	job := jobs[0]
	failed := condition(&job, batchv1.JobFailed)
	require.NotNil(t, failed)
	assert.Equal(t, controller.ReasonMaxFailedIndexesExceeded, failed.Reason)
	assert.Equal(t, controller.MessageMaxFailedIndexesExceeded, failed.Message)
	assert.Equal(t, ptrTo("1"), job.Status.FailedIndexes)
	assert.Equal(t, "", job.Status.CompletedIndexes)
	assert.Equal(t, int32(5), job.Status.Failed, "index 1's two attempts and the three stopped pods")
	assert.Equal(t, int32(0), job.Status.Active)
	assert.Nil(t, job.Status.CompletionTime, "a failed Job has no completionTime")
	byIndex := podsByIndex(t, pods)
	assert.Len(t, byIndex["1"], 2, "index 1 used its two attempts")
	assert.Len(t, pods, 2, "the stopped pods of the other indexes are gone")
	noTrackingFinalizers(t, pods)
}

// TestSuccessPolicyJob: the success policy ends the Job before every
// index has succeeded (e2e "with successPolicy …" cases).
func TestSuccessPolicyJob(t *testing.T) {
	cases := []struct {
		name                 string
		replacements         []string
		wantCompletedIndexes string
		wantSucceeded        int32
		wantFailed           int32 // the workers stopped after the rule was met
		wantMessage          string
		wantDuration         time.Duration
	}{
		{name: "succeededIndexes rule met while other indexes remain pending",
			wantCompletedIndexes: "0", wantSucceeded: 1, wantFailed: 3,
			wantMessage: "Matched rules at index 0", wantDuration: 33 * time.Second},
		{name: "succeededCount rule met while other indexes remain pending",
			replacements: []string{`- succeededIndexes: "0"`, `- succeededCount: 2`,
				`sim.kjob.dev/duration-index-0: "30s"`, `sim.kjob.dev/duration-index-0: "30s"` + "\n        sim.kjob.dev/duration-index-2: \"20s\""},
			wantCompletedIndexes: "0,2", wantSucceeded: 2, wantFailed: 2,
			wantMessage: "Matched rules at index 0", wantDuration: 33 * time.Second},
		{name: "all indexes succeeded",
			replacements:         []string{`sim.kjob.dev/duration: "1h"`, `sim.kjob.dev/duration: "10s"`},
			wantCompletedIndexes: "0-3", wantSucceeded: 4,
			wantMessage: "Matched rules at index 0", wantDuration: 32 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			manifest := testdata("indexed-success-policy.yaml")
			if tc.replacements != nil {
				manifest = variant(t, "indexed-success-policy.yaml", tc.replacements...)
			}
			code, out, errOut := runJobsim(t, "-o", "json", "-q", manifest)
			require.Equal(t, exitCompleted, code, "stderr: %s", errOut)
			jobs, pods := decodeList(t, out)
			job := jobs[0]
			for _, typ := range []batchv1.JobConditionType{batchv1.JobSuccessCriteriaMet, batchv1.JobComplete} {
				c := condition(&job, typ)
				require.NotNil(t, c, "%s", typ)
				assert.Equal(t, controller.ReasonSuccessPolicy, c.Reason, "%s", typ)
				assert.Equal(t, tc.wantMessage, c.Message, "%s", typ)
			}
			assert.Equal(t, tc.wantCompletedIndexes, job.Status.CompletedIndexes)
			assert.Equal(t, tc.wantSucceeded, job.Status.Succeeded)
			assert.Equal(t, tc.wantFailed, job.Status.Failed)
			assert.Equal(t, int32(0), job.Status.Active)
			assert.Equal(t, tc.wantDuration, job.Status.CompletionTime.Sub(job.Status.StartTime.Time).Round(time.Second))
			noTrackingFinalizers(t, pods)
		})
	}
}

func ptrTo[T any](v T) *T { return &v }
