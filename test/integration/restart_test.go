package integration

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/controller"
)

// TestControllerRestartMidJob stops the controller while pods are running
// and finishing, and starts a fresh one (empty caches, no expectations, no
// memory of what it created): the Job still ends with each pod counted
// exactly once and no extra pod.
func TestControllerRestartMidJob(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ns := newNamespace(t, client)
	first := startController(t, client, ns)

	job := scripted("restarted", map[string]string{"sim.kjob.dev/duration": "1s"})
	job.Spec.Completions = ptr.To[int32](6)
	job.Spec.Parallelism = ptr.To[int32](2)
	job = createJob(t, client, ns, job)
	waitForJob(t, client, ns, job.Name, "two successes", func(j *batchv1.Job) bool {
		return j.Status.Succeeded >= 2
	})
	first.stop()
	startController(t, client, ns)

	job = waitForJob(t, client, ns, job.Name, "Complete", func(j *batchv1.Job) bool {
		return hasCondition(j, batchv1.JobComplete)
	})
	assert.Equal(t, int32(6), job.Status.Succeeded)
	assert.Equal(t, int32(0), job.Status.Failed)
	pods := waitForPods(t, client, ns, "finished without finalizers", noFinalizers)
	assert.Len(t, pods, 6, "the new controller created no pod the old one had already created")
}

// errFinalizerPatch stands in for an apiserver that refuses finalizer
// removals, to stop the first controller between its two tracking steps.
var errFinalizerPatch = errors.New("finalizer removal refused by the test")

// refuseFinalizerRemoval fails every pod patch: the controller's only pod
// patches here are finalizer removals.
type refuseFinalizerRemoval struct{ controller.PodControl }

func (r refuseFinalizerRemoval) PatchPod(context.Context, string, string, []byte) error {
	return errFinalizerPatch
}

// TestControllerRestartBetweenStatusAndFinalizers: the first controller has
// written finished pods into status.uncountedTerminatedPods but could not
// remove their finalizers when it stops. The next controller must finish
// the job of moving them to the counters, counting each exactly once.
func TestControllerRestartBetweenStatusAndFinalizers(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ns := newNamespace(t, client)
	first := startController(t, client, ns, func(cfg *controller.Config) {
		cfg.PodControl = refuseFinalizerRemoval{controller.RealPodControl{Client: client, Recorder: &record.FakeRecorder{}}}
	})

	job := scripted("half-tracked", map[string]string{"sim.kjob.dev/duration": "500ms"})
	job.Spec.Completions = ptr.To[int32](3)
	job.Spec.Parallelism = ptr.To[int32](3)
	job = createJob(t, client, ns, job)
	stuck := waitForJob(t, client, ns, job.Name, "uncounted successes", func(j *batchv1.Job) bool {
		return j.Status.UncountedTerminatedPods != nil && len(j.Status.UncountedTerminatedPods.Succeeded) == 3
	})
	assert.Equal(t, int32(0), stuck.Status.Succeeded, "nothing is counted while finalizers remain")
	first.stop()
	startController(t, client, ns)

	job = waitForJob(t, client, ns, job.Name, "Complete", func(j *batchv1.Job) bool {
		return hasCondition(j, batchv1.JobComplete)
	})
	assert.Equal(t, int32(3), job.Status.Succeeded)
	assert.Equal(t, int32(0), job.Status.Failed)
	assert.Empty(t, job.Status.UncountedTerminatedPods.Succeeded)
	pods := waitForPods(t, client, ns, "finished without finalizers", noFinalizers)
	assert.Len(t, pods, 3)
}

func noFinalizers(pods []corev1.Pod) bool {
	for i := range pods {
		if hasFinalizer(&pods[i]) {
			return false
		}
	}
	return true
}
