package integration

import (
	"context"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/controller"
)

// The pod failure policy and the pod replacement policy against the real
// apiserver: its defaulting (podReplacementPolicy Failed with a policy), its
// Eviction API (DisruptionTarget=True) and its garbage collector.

func rule(action batchv1.PodFailurePolicyAction) batchv1.PodFailurePolicyRule {
	return batchv1.PodFailurePolicyRule{Action: action}
}

func onExit(r batchv1.PodFailurePolicyRule, op batchv1.PodFailurePolicyOnExitCodesOperator, codes ...int32) batchv1.PodFailurePolicyRule {
	r.OnExitCodes = &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: op, Values: codes}
	return r
}

func onDisruption(r batchv1.PodFailurePolicyRule) batchv1.PodFailurePolicyRule {
	r.OnPodConditions = []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}}
	return r
}

// TestJobPodFailurePolicy is upstream's TestJobPodFailurePolicy, on pods
// the simulated kubelet runs from sim.kjob.dev/ annotations.
func TestJobPodFailurePolicy(t *testing.T) {
	client := requireControlPlane(t)
	cases := []struct {
		name         string
		backoffLimit int32
		rules        []batchv1.PodFailurePolicyRule
		annotations  map[string]string
		// perIndex makes it an Indexed Job of 2 with backoffLimitPerIndex 1:
		// without FailIndex, index 0 would get a second attempt (failed=2).
		perIndex bool
		// expected
		wantCondition batchv1.JobConditionType
		wantReason    string
		wantMessage   *regexp.Regexp
		wantFailed    int32
		wantSucceeded int32
	}{
		{name: "FailJob on an exit code",
			backoffLimit: 6, rules: []batchv1.PodFailurePolicyRule{onExit(rule(batchv1.PodFailurePolicyActionFailJob), batchv1.PodFailurePolicyOnExitCodesOpIn, 42)},
			annotations:   map[string]string{"sim.kjob.dev/duration": "200ms", "sim.kjob.dev/exit-codes": "42"},
			wantCondition: batchv1.JobFailed, wantReason: controller.ReasonPodFailurePolicy, wantFailed: 1,
			wantMessage: regexp.MustCompile(`^Container work for pod kjob-it-[a-z0-9]+/policy-[a-z0-9]{5} failed with exit code 42 matching FailJob rule at index 0$`)},
		{name: "Ignore on DisruptionTarget: the evicted pod is not counted",
			backoffLimit: 0, rules: []batchv1.PodFailurePolicyRule{onDisruption(rule(batchv1.PodFailurePolicyActionIgnore))},
			annotations:   map[string]string{"sim.kjob.dev/duration": "1h,500ms", "sim.kjob.dev/evict-after": "500ms,never"},
			wantCondition: batchv1.JobComplete, wantReason: controller.ReasonCompletionsReached, wantSucceeded: 1},
		{name: "Count rule: the failure counts",
			backoffLimit: 0, rules: []batchv1.PodFailurePolicyRule{onExit(rule(batchv1.PodFailurePolicyActionCount), batchv1.PodFailurePolicyOnExitCodesOpIn, 1)},
			annotations:   map[string]string{"sim.kjob.dev/duration": "200ms", "sim.kjob.dev/exit-codes": "1"},
			wantCondition: batchv1.JobFailed, wantReason: controller.ReasonBackoffLimitExceeded, wantFailed: 1},
		{name: "FailIndex: the index fails at once, the other completes",
			backoffLimit: 6, perIndex: true,
			rules:         []batchv1.PodFailurePolicyRule{onExit(rule(batchv1.PodFailurePolicyActionFailIndex), batchv1.PodFailurePolicyOnExitCodesOpIn, 42)},
			annotations:   map[string]string{"sim.kjob.dev/duration": "200ms", "sim.kjob.dev/exit-codes-index-0": "42"},
			wantCondition: batchv1.JobFailed, wantReason: controller.ReasonFailedIndexes, wantFailed: 1, wantSucceeded: 1},
		{name: "no matching rule: the failure counts",
			backoffLimit: 0, rules: []batchv1.PodFailurePolicyRule{onExit(rule(batchv1.PodFailurePolicyActionFailJob), batchv1.PodFailurePolicyOnExitCodesOpIn, 42)},
			annotations:   map[string]string{"sim.kjob.dev/duration": "200ms", "sim.kjob.dev/exit-codes": "3"},
			wantCondition: batchv1.JobFailed, wantReason: controller.ReasonBackoffLimitExceeded, wantFailed: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t, client)
			startController(t, client, ns)
			job := scripted("policy", tc.annotations)
			job.Spec.BackoffLimit = ptr.To(tc.backoffLimit)
			job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: tc.rules}
			if tc.perIndex {
				job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
				job.Spec.Completions = ptr.To[int32](2)
				job.Spec.Parallelism = ptr.To[int32](2)
				job.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
			}
			job = createJob(t, client, ns, job)
			assert.Equal(t, ptr.To(batchv1.Failed), job.Spec.PodReplacementPolicy, "the apiserver defaults it to Failed with a policy")

			job = waitForJob(t, client, ns, job.Name, string(tc.wantCondition), func(j *batchv1.Job) bool {
				return hasCondition(j, tc.wantCondition)
			})
			c := conditionOf(job, tc.wantCondition)
			assert.Equal(t, tc.wantReason, c.Reason)
			if tc.wantMessage != nil {
				assert.Regexp(t, tc.wantMessage, c.Message)
			}
			assert.Equal(t, tc.wantFailed, job.Status.Failed, "failed")
			assert.Equal(t, tc.wantSucceeded, job.Status.Succeeded, "succeeded")
			if tc.perIndex {
				assert.Equal(t, ptr.To("0"), job.Status.FailedIndexes, "index 0 failed on its first attempt")
				assert.Equal(t, "1", job.Status.CompletedIndexes)
			}
			waitForPods(t, client, ns, "lost their finalizers", noFinalizers)
		})
	}
}

// TestJobPodFailurePolicyWithFailedPodDeletedDuringControllerRestart: the
// first controller writes FailureTarget for a pod matching FailJob but
// cannot remove the pod's finalizer; the pod is then deleted (its
// finalizer taken off by hand). The controller that starts next no longer
// sees the pod, and must still turn FailureTarget into Failed.
func TestJobPodFailurePolicyWithFailedPodDeletedDuringControllerRestart(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ns := newNamespace(t, client)
	first := startController(t, client, ns, func(cfg *controller.Config) {
		cfg.PodControl = refuseFinalizerRemoval{controller.RealPodControl{Client: client, Recorder: &record.FakeRecorder{}}}
	})
	job := scripted("fail-fast", map[string]string{"sim.kjob.dev/duration": "200ms", "sim.kjob.dev/exit-codes": "42"})
	job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		onExit(rule(batchv1.PodFailurePolicyActionFailJob), batchv1.PodFailurePolicyOnExitCodesOpIn, 42)}}
	job = createJob(t, client, ns, job)
	waitForJob(t, client, ns, job.Name, "FailureTarget", func(j *batchv1.Job) bool {
		return hasCondition(j, batchv1.JobFailureTarget)
	})
	first.stop()

	pods, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, pods.Items, 1)
	p := &pods.Items[0]
	require.NoError(t, client.CoreV1().Pods(ns).Delete(context.Background(), p.Name, metav1.DeleteOptions{}))
	p, err = client.CoreV1().Pods(ns).Get(context.Background(), p.Name, metav1.GetOptions{})
	require.NoError(t, err, "the finalizer holds the pod")
	p.Finalizers = nil
	_, err = client.CoreV1().Pods(ns).Update(context.Background(), p, metav1.UpdateOptions{})
	require.NoError(t, err)
	waitForPods(t, client, ns, "gone", func(pods []corev1.Pod) bool { return len(pods) == 0 })

	startController(t, client, ns)
	job = waitForJob(t, client, ns, job.Name, "Failed", func(j *batchv1.Job) bool {
		return hasCondition(j, batchv1.JobFailed)
	})
	assert.Equal(t, controller.ReasonPodFailurePolicy, conditionOf(job, batchv1.JobFailed).Reason)
	assert.Equal(t, conditionOf(job, batchv1.JobFailureTarget).Message, conditionOf(job, batchv1.JobFailed).Message)
	assert.Equal(t, int32(1), job.Status.Failed, "the pod listed as uncounted is counted once")
	assert.Empty(t, job.Status.UncountedTerminatedPods.Failed)
}

// TestJobPodReplacementPolicy: a pod is evicted and takes 15 s to shut
// down. Under Failed (e2e "should recreate pods only after they have failed
// if pod replacement policy is set to Failed") it holds its place until it
// has failed; under TerminatingOrFailed its replacement starts after the
// 10 s replacement delay, while it is still shutting down.
func TestJobPodReplacementPolicy(t *testing.T) {
	client := requireControlPlane(t)
	cases := []struct {
		policy batchv1.PodReplacementPolicy
		// overlap: a replacement runs while the evicted pod still terminates.
		overlap bool
	}{
		{policy: batchv1.Failed},
		{policy: batchv1.TerminatingOrFailed, overlap: true},
	}
	for _, tc := range cases {
		t.Run(string(tc.policy), func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t, client)
			startController(t, client, ns)
			job := scripted("replace", map[string]string{
				"sim.kjob.dev/duration":      "1h,500ms",
				"sim.kjob.dev/evict-after":   "500ms,never",
				"sim.kjob.dev/sigterm-delay": "15s",
			})
			job.Spec.PodReplacementPolicy = ptr.To(tc.policy)
			job = createJob(t, client, ns, job)

			seen := waitForJob(t, client, ns, job.Name, "a terminating pod", func(j *batchv1.Job) bool {
				return ptr.Deref(j.Status.Terminating, 0) == 1
			})
			assert.Equal(t, int32(0), seen.Status.Active, "the evicted pod is not active")
			if !tc.overlap {
				assert.Equal(t, int32(0), seen.Status.Failed, "Failed: not a failure until it has failed")
			}

			sawOverlap := false
			job = waitForJob(t, client, ns, job.Name, "Complete", func(j *batchv1.Job) bool {
				if ptr.Deref(j.Status.Terminating, 0) == 1 && j.Status.Active == 1 {
					sawOverlap = true
				}
				return hasCondition(j, batchv1.JobComplete)
			})
			assert.Equal(t, tc.overlap, sawOverlap, "a replacement ran beside the terminating pod")
			assert.Equal(t, int32(1), job.Status.Failed, "the evicted pod")
			assert.Equal(t, int32(1), job.Status.Succeeded)
		})
	}
}
