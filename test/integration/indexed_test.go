package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/controller"
)

// indexed returns a scripted Indexed Job. The real apiserver checks every
// status write of these tests: completedIndexes and failedIndexes must be
// well-formed, in range and disjoint, and each terminal condition must
// follow its interim one.
func indexed(name string, completions, parallelism int32, annotations map[string]string) *batchv1.Job {
	job := scripted(name, annotations)
	job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	job.Spec.Completions = ptr.To(completions)
	job.Spec.Parallelism = ptr.To(parallelism)
	return job
}

// podsOfIndex returns the pods of one completion index, oldest first.
func podsOfIndex(pods []corev1.Pod, ix string) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		if p.Annotations[batchv1.JobCompletionIndexAnnotation] == ix {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b corev1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
	return out
}

// TestIndexedJob: hostname, index label and annotation; a failed index is
// created again; completedIndexes and succeeded count indexes (upstream
// integration TestIndexedJob; e2e "should create pods for an Indexed job
// with completion indexes and specified hostname").
func TestIndexedJob(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ns := newNamespace(t, client)
	startController(t, client, ns)

	job := indexed("indexed", 4, 2, map[string]string{
		"sim.kjob.dev/duration":           "500ms",
		"sim.kjob.dev/exit-codes-index-1": "1,0", // index 1 fails once
	})
	job.Spec.Template.Spec.Subdomain = "indexed"
	job = createJob(t, client, ns, job)
	job = waitForJob(t, client, ns, job.Name, "Complete", func(j *batchv1.Job) bool {
		return hasCondition(j, batchv1.JobComplete)
	})
	assert.Equal(t, "0-3", job.Status.CompletedIndexes)
	assert.Equal(t, int32(4), job.Status.Succeeded)
	assert.Equal(t, int32(1), job.Status.Failed)
	assert.Nil(t, job.Status.FailedIndexes)
	assert.Equal(t, controller.ReasonCompletionsReached, conditionOf(job, batchv1.JobComplete).Reason)

	pods := waitForPods(t, client, ns, "lost their finalizers", noFinalizers)
	require.Len(t, pods, 5, "one pod per index, and one replacement")
	for i := range 4 {
		ix := fmt.Sprint(i)
		attempts := podsOfIndex(pods, ix)
		if i == 1 {
			require.Len(t, attempts, 2, "index 1 was created again after its failure")
			assert.Equal(t, corev1.PodFailed, attempts[0].Status.Phase)
		} else {
			require.Len(t, attempts, 1, "index %s", ix)
		}
		last := attempts[len(attempts)-1]
		assert.Equal(t, corev1.PodSucceeded, last.Status.Phase, last.Name)
		for _, p := range attempts {
			assert.Equal(t, ix, p.Labels[batchv1.JobCompletionIndexAnnotation], p.Name)
			assert.Equal(t, "indexed-"+ix, p.Spec.Hostname, p.Name)
			assert.Equal(t, "indexed", p.Spec.Subdomain, p.Name)
		}
	}
}

// scaleJob sets completions and parallelism in one update, as elastic
// Indexed Jobs must.
func scaleJob(t *testing.T, client kubernetes.Interface, ns, name string, completions, parallelism int32) error {
	t.Helper()
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		job, err := client.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		job.Spec.Completions, job.Spec.Parallelism = ptr.To(completions), ptr.To(parallelism)
		_, err = client.BatchV1().Jobs(ns).Update(context.Background(), job, metav1.UpdateOptions{})
		return err
	})
}

// TestElasticIndexedJob scales completions and parallelism together, up and
// then down to 0: indexes out of range lose their pods and their
// completions, and the Job completes (upstream integration
// TestElasticIndexedJob).
func TestElasticIndexedJob(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ns := newNamespace(t, client)
	startController(t, client, ns)

	job := indexed("elastic", 3, 3, map[string]string{
		"sim.kjob.dev/duration":         "1h",
		"sim.kjob.dev/duration-index-0": "200ms",
	})
	job = createJob(t, client, ns, job)
	waitForJob(t, client, ns, job.Name, "index 0 done, 1 and 2 running", func(j *batchv1.Job) bool {
		return j.Status.CompletedIndexes == "0" && j.Status.Active == 2
	})

	require.Error(t, scaleJob(t, client, ns, job.Name, 5, 3), "the apiserver refuses completions without parallelism")
	require.NoError(t, scaleJob(t, client, ns, job.Name, 5, 5))
	waitForJob(t, client, ns, job.Name, "indexes 1-4 running", func(j *batchv1.Job) bool {
		return j.Status.Active == 4
	})

	require.NoError(t, scaleJob(t, client, ns, job.Name, 1, 1))
	job = waitForJob(t, client, ns, job.Name, "Complete", func(j *batchv1.Job) bool {
		return hasCondition(j, batchv1.JobComplete)
	})
	assert.Equal(t, "0", job.Status.CompletedIndexes)
	assert.Equal(t, int32(1), job.Status.Succeeded)
	assert.Equal(t, int32(0), job.Status.Failed, "pods of dropped indexes are not failures")
	waitForPods(t, client, ns, "only index 0's pod left", func(pods []corev1.Pod) bool {
		return len(pods) == 1 && noFinalizers(pods)
	})

	// Down to 0 on a fresh Job: nothing to do, so it completes at once.
	empty := createJob(t, client, ns, indexed("elastic-empty", 2, 2, map[string]string{"sim.kjob.dev/duration": "1h"}))
	waitForJob(t, client, ns, empty.Name, "running", func(j *batchv1.Job) bool { return j.Status.Active == 2 })
	require.NoError(t, scaleJob(t, client, ns, empty.Name, 0, 0))
	empty = waitForJob(t, client, ns, empty.Name, "Complete", func(j *batchv1.Job) bool {
		return hasCondition(j, batchv1.JobComplete)
	})
	assert.Equal(t, int32(0), empty.Status.Succeeded)
}

// TestBackoffLimitPerIndex: indexes fail on their own limits; the Job goes on
// and ends with FailedIndexes, or stops at once past maxFailedIndexes
// (upstream integration TestBackoffLimitPerIndex).
func TestBackoffLimitPerIndex(t *testing.T) {
	client := requireControlPlane(t)
	cases := []struct {
		name                  string
		maxFailedIndexes      *int32
		annotations           map[string]string
		wantReason            string
		wantFailedIndexes     string
		wantCompletedIndexes  string
		wantFailed, wantPods  int32
		wantIndex1FailCounts  []string
		wantOtherIndexesTried bool
	}{
		{name: "the job continues after an index failed and ends Failed",
			annotations:           map[string]string{"sim.kjob.dev/duration": "200ms", "sim.kjob.dev/exit-codes-index-1": "1"},
			wantReason:            controller.ReasonFailedIndexes,
			wantFailedIndexes:     "1",
			wantCompletedIndexes:  "0,2",
			wantFailed:            2,
			wantPods:              4,
			wantIndex1FailCounts:  []string{"0", "1"},
			wantOtherIndexesTried: true},
		{name: "maxFailedIndexes exceeded stops the job early", maxFailedIndexes: ptr.To[int32](0),
			annotations: map[string]string{"sim.kjob.dev/duration": "1h",
				"sim.kjob.dev/duration-index-1": "200ms", "sim.kjob.dev/exit-codes-index-1": "1"},
			wantReason:           controller.ReasonMaxFailedIndexesExceeded,
			wantFailedIndexes:    "1",
			wantFailed:           4, // index 1 twice, and the two stopped pods
			wantIndex1FailCounts: []string{"0", "1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t, client)
			startController(t, client, ns)
			job := indexed("per-index", 3, 3, tc.annotations)
			job.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
			job.Spec.MaxFailedIndexes = tc.maxFailedIndexes
			job = createJob(t, client, ns, job)
			assert.Equal(t, ptr.To[int32](2147483647), job.Spec.BackoffLimit, "the apiserver's default with a per-index limit")

			job = waitForJob(t, client, ns, job.Name, "Failed", func(j *batchv1.Job) bool {
				return hasCondition(j, batchv1.JobFailed)
			})
			failed := conditionOf(job, batchv1.JobFailed)
			assert.Equal(t, tc.wantReason, failed.Reason)
			assert.Equal(t, tc.wantReason, conditionOf(job, batchv1.JobFailureTarget).Reason)
			assert.Equal(t, ptr.To(tc.wantFailedIndexes), job.Status.FailedIndexes)
			assert.Equal(t, tc.wantCompletedIndexes, job.Status.CompletedIndexes)
			assert.Equal(t, tc.wantFailed, job.Status.Failed)

			pods := waitForPods(t, client, ns, "lost their finalizers", noFinalizers)
			var counts []string
			for _, p := range podsOfIndex(pods, "1") {
				counts = append(counts, p.Annotations[batchv1.JobIndexFailureCountAnnotation])
			}
			assert.Equal(t, tc.wantIndex1FailCounts, counts, "failure counts of index 1's pods")
			if tc.wantOtherIndexesTried {
				assert.Len(t, pods, int(tc.wantPods))
			}
		})
	}
}

// TestBackoffLimitPerIndex_DelayedPodDeletion: a failed pod keeps its
// tracking finalizer until its index has a replacement, which carries the
// failure count 1; only then is the failed pod released and counted.
func TestBackoffLimitPerIndex_DelayedPodDeletion(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ns := newNamespace(t, client)
	startController(t, client, ns)

	job := indexed("delayed", 1, 1, map[string]string{"sim.kjob.dev/duration": "200ms", "sim.kjob.dev/exit-codes": "1,0"})
	job.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
	job = createJob(t, client, ns, job)

	pods := waitForPods(t, client, ns, "the first attempt failed", func(pods []corev1.Pod) bool {
		return len(pods) == 1 && pods[0].Status.Phase == corev1.PodFailed
	})
	// The replacement waits 10 s; all that time the failed pod must keep
	// its finalizer, and the Job must not count it yet.
	time.Sleep(2 * time.Second)
	current, err := client.CoreV1().Pods(ns).Get(context.Background(), pods[0].Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.True(t, hasFinalizer(current), "the failed pod keeps its finalizer while no replacement exists")
	got, err := client.BatchV1().Jobs(ns).Get(context.Background(), job.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(0), got.Status.Failed, "not counted before it is released")

	job = waitForJob(t, client, ns, job.Name, "Complete", func(j *batchv1.Job) bool {
		return hasCondition(j, batchv1.JobComplete)
	})
	assert.Equal(t, int32(1), job.Status.Failed)
	assert.Equal(t, ptr.To(""), job.Status.FailedIndexes)
	pods = waitForPods(t, client, ns, "lost their finalizers", noFinalizers)
	attempts := podsOfIndex(pods, "0")
	require.Len(t, attempts, 2)
	assert.Equal(t, "1", attempts[1].Annotations[batchv1.JobIndexFailureCountAnnotation], "the replacement carries the count")
	finished := attempts[0].Status.ContainerStatuses[0].State.Terminated.FinishedAt.Time
	assert.GreaterOrEqual(t, attempts[1].CreationTimestamp.Sub(finished), 9*time.Second, "the index's own 10 s delay")
}

// TestSuccessPolicy: a rule met while other indexes still run ends the Job
// with SuccessCriteriaMet and then Complete, both with reason SuccessPolicy,
// after the remaining pods are gone (upstream integration TestSuccessPolicy).
func TestSuccessPolicy(t *testing.T) {
	client := requireControlPlane(t)
	cases := []struct {
		name string
		rule batchv1.SuccessPolicyRule
	}{
		{name: "succeededIndexes", rule: batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("0")}},
		{name: "succeededCount", rule: batchv1.SuccessPolicyRule{SucceededCount: ptr.To[int32](1)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t, client)
			startController(t, client, ns)
			job := indexed("leader", 3, 3, map[string]string{
				"sim.kjob.dev/duration": "1h", "sim.kjob.dev/duration-index-0": "500ms"})
			job.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{tc.rule}}
			job = createJob(t, client, ns, job)
			job = waitForJob(t, client, ns, job.Name, "Complete", func(j *batchv1.Job) bool {
				return hasCondition(j, batchv1.JobComplete)
			})
			for _, typ := range []batchv1.JobConditionType{batchv1.JobSuccessCriteriaMet, batchv1.JobComplete} {
				c := conditionOf(job, typ)
				require.NotNil(t, c, "%s", typ)
				assert.Equal(t, controller.ReasonSuccessPolicy, c.Reason)
				assert.Equal(t, "Matched rules at index 0", c.Message)
			}
			assert.Equal(t, "0", job.Status.CompletedIndexes)
			assert.Equal(t, int32(1), job.Status.Succeeded)
			assert.Equal(t, int32(0), job.Status.Active)
			assert.Equal(t, ptr.To[int32](0), job.Status.Terminating)
			waitForPods(t, client, ns, "lost their finalizers", noFinalizers)
		})
	}
}

// TestFinalizersClearedWhenBackoffLimitExceeded: a 100-pod Indexed Job whose
// first failure exceeds backoffLimit 0 ends Failed, and every one of its pods
// loses the tracking finalizer, the 99 stopped ones included (upstream
// integration test of the same name).
func TestFinalizersClearedWhenBackoffLimitExceeded(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ns := newNamespace(t, client)
	startController(t, client, ns)

	job := indexed("hundred", 100, 100, map[string]string{
		"sim.kjob.dev/duration": "1h", "sim.kjob.dev/duration-index-0": "3s", "sim.kjob.dev/exit-codes-index-0": "1"})
	job.Spec.BackoffLimit = ptr.To[int32](0)
	job = createJob(t, client, ns, job)
	job = waitForJob(t, client, ns, job.Name, "Failed", func(j *batchv1.Job) bool {
		return hasCondition(j, batchv1.JobFailed)
	})
	assert.Equal(t, controller.ReasonBackoffLimitExceeded, conditionOf(job, batchv1.JobFailed).Reason)
	assert.Equal(t, int32(0), job.Status.Active)
	assert.Equal(t, int32(100), job.Status.Failed, "the failed pod and the 99 stopped with the Job")
	waitForPods(t, client, ns, "lost their finalizers", noFinalizers)
}
