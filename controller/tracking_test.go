package controller

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// TestSyncJobExactActions pins the order of API writes, which is what makes
// finalizer tracking crash-safe: the UID is stored before the finalizer goes,
// and counted only after.
func TestSyncJobExactActions(t *testing.T) {
	job := newJob(1, ptr.To[int32](1), 6)
	done := podOf(job, "done", v1.PodSucceeded)
	f := newFixture(t, job, done)
	f.client.ClearActions()
	require.NoError(t, f.sync(job))

	assert.Equal(t, []string{
		"update jobs/status",
		`patch pods done {"metadata":{"$deleteFromPrimitiveList/finalizers":["batch.kubernetes.io/job-tracking"],"uid":"uid-done"}}`,
		"update jobs/status",
	}, f.actionLog())

	var statuses []batchv1.JobStatus
	for _, a := range f.client.Actions() {
		if a.GetSubresource() == "status" {
			statuses = append(statuses, a.(interface{ GetObject() runtime.Object }).GetObject().(*batchv1.Job).Status)
		}
	}
	require.Len(t, statuses, 2)
	first, second := statuses[0], statuses[1]
	assert.Equal(t, []types.UID{"uid-done"}, first.UncountedTerminatedPods.Succeeded, "8a: listed before the finalizer goes")
	assert.Equal(t, int32(0), first.Succeeded)
	assert.Equal(t, []string{"SuccessCriteriaMet=True:CompletionsReached"}, conditionSummary(&first))
	assert.Empty(t, second.UncountedTerminatedPods.Succeeded, "8c: moved to the counter")
	assert.Equal(t, int32(1), second.Succeeded)
	assert.Equal(t, []string{"SuccessCriteriaMet=True:CompletionsReached", "Complete=True:CompletionsReached"}, conditionSummary(&second))
	assert.Equal(t, []string{"Normal Completed Job completed"}, f.events())
}

func TestSyncJobStartCreatesOwnedPods(t *testing.T) {
	job := newJob(2, ptr.To[int32](2), 6)
	f := newFixture(t, job)
	f.client.ClearActions()
	require.NoError(t, f.sync(job))
	assert.Equal(t, []string{"create pods", "create pods", "update jobs/status"}, f.actionLog(),
		"slow start: a batch of 1, then a batch of 1 (what is left of 2)")
	pods, err := f.client.CoreV1().Pods("ns").List(f.ctx, listAll)
	require.NoError(t, err)
	require.Len(t, pods.Items, 2)
	for _, p := range pods.Items {
		assert.Equal(t, "job-", p.GenerateName)
		assert.Equal(t, []string{JobTrackingFinalizer}, p.Finalizers)
		assert.Equal(t, job.Spec.Template.Labels, p.Labels)
		ref := p.OwnerReferences[0]
		assert.Equal(t, job.UID, ref.UID)
		assert.True(t, *ref.Controller)
		assert.True(t, *ref.BlockOwnerDeletion)
	}
	assert.Equal(t, []string{"Normal SuccessfulCreate Created pod: job-00001", "Normal SuccessfulCreate Created pod: job-00002"}, f.events())
}

// TestTrackingAcrossRestarts: the controller may stop between any two of
// steps 8a–8c; a fresh one (no memory) must finish the count exactly once.
func TestTrackingAcrossRestarts(t *testing.T) {
	cases := []struct {
		name          string
		status        batchv1.JobStatus
		pod           func(*batchv1.Job) *v1.Pod // nil: the pod is gone
		inFlight      bool                       // a removal this process requested is unobserved
		wantPatches   int
		wantSucceeded int32
		wantFailed    int32
	}{
		{name: "stopped after 8a: finalizer still there",
			status:      batchv1.JobStatus{UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{Succeeded: []types.UID{"uid-p"}}},
			pod:         func(j *batchv1.Job) *v1.Pod { return podOf(j, "p", v1.PodSucceeded) },
			wantPatches: 1, wantSucceeded: 1},
		{name: "stopped after 8b: finalizer gone, UID listed",
			status: batchv1.JobStatus{UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{Succeeded: []types.UID{"uid-p"}}},
			pod: func(j *batchv1.Job) *v1.Pod {
				p := podOf(j, "p", v1.PodSucceeded)
				p.Finalizers = nil
				return p
			},
			wantSucceeded: 1},
		{name: "stopped after 8b and the pod was deleted",
			status:     batchv1.JobStatus{UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{Failed: []types.UID{"uid-p"}}},
			wantFailed: 1},
		{name: "after 8c: counted pod is never counted again",
			status: batchv1.JobStatus{Succeeded: 1, UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{}},
			pod: func(j *batchv1.Job) *v1.Pod {
				p := podOf(j, "p", v1.PodSucceeded)
				p.Finalizers = nil
				return p
			},
			wantSucceeded: 1},
		{name: "removal in flight: stale cache still shows the finalizer",
			status:   batchv1.JobStatus{Succeeded: 1, UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{}},
			pod:      func(j *batchv1.Job) *v1.Pod { return podOf(j, "p", v1.PodSucceeded) },
			inFlight: true, wantSucceeded: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := newJob(1, ptr.To[int32](3), 6)
			job.Status = tc.status
			objects := []runtime.Object{job}
			if tc.pod != nil {
				objects = append(objects, tc.pod(job))
			}
			f := newFixture(t, objects...)
			if tc.inFlight {
				f.ctrl.finalizerRemovals.expect(job.UID, "uid-p")
			}
			f.client.ClearActions()
			require.NoError(t, f.sync(job))
			assert.Equal(t, tc.wantPatches, f.counts().patches, "finalizer patches")
			st := f.lastStatus()
			require.NotNil(t, st)
			assert.Equal(t, tc.wantSucceeded, st.Succeeded)
			assert.Equal(t, tc.wantFailed, st.Failed)
			assert.Empty(t, st.UncountedTerminatedPods.Succeeded)
			assert.Empty(t, st.UncountedTerminatedPods.Failed)
		})
	}
}

// TestTooManySucceededPods: a stale cache let an extra pod succeed (F09).
func TestTooManySucceededPods(t *testing.T) {
	job := newJob(1, ptr.To[int32](1), 6)
	f := newFixture(t, job, podOf(job, "a", v1.PodSucceeded), podOf(job, "b", v1.PodSucceeded))
	require.NoError(t, f.sync(job))
	st := f.lastStatus()
	assert.Equal(t, int32(2), st.Succeeded)
	assert.True(t, hasTrueCondition(st, batchv1.JobComplete))
	assert.Equal(t, []string{
		"Warning TooManySucceededPods Too many succeeded pods running after completion count reached",
		"Normal Completed Job completed",
	}, f.events())
}

// TestSyncJobSkipsOtherControllersJobs: a Job whose managedBy names another
// controller is never touched, not even its status.
func TestSyncJobSkipsOtherControllersJobs(t *testing.T) {
	cases := []struct {
		name      string
		managedBy *string
		wantWrite bool
	}{
		{name: "unset is the built-in controller", wantWrite: true},
		{name: "reserved value is the built-in controller", managedBy: ptr.To(BuiltInControllerName), wantWrite: true},
		{name: "another controller", managedBy: ptr.To("example.com/other")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := newJob(1, ptr.To[int32](1), 6)
			job.Spec.ManagedBy = tc.managedBy
			f := newFixture(t, job, podOf(job, "done", v1.PodSucceeded))
			f.client.ClearActions()
			require.NoError(t, f.sync(job))
			assert.Equal(t, tc.wantWrite, len(f.client.Actions()) > 0, "actions: %v", f.actionLog())
		})
	}
}

func TestSyncJobFinishedOrMissing(t *testing.T) {
	job := newJob(1, ptr.To[int32](1), 6)
	job.Status.Conditions = []batchv1.JobCondition{newCondition(batchv1.JobComplete, v1.ConditionTrue, ReasonCompletionsReached, "", testNow)}
	f := newFixture(t, job, podOf(job, "p", v1.PodRunning))
	f.ctrl.backoff.set(job.UID, backoffRecord{failuresSinceSuccess: 3})
	f.client.ClearActions()
	require.NoError(t, f.sync(job))
	assert.Empty(t, f.client.Actions(), "a finished Job gets no writes")
	assert.Equal(t, backoffRecord{}, f.ctrl.backoff.get(job.UID), "its backoff record is dropped")

	require.NoError(t, f.ctrl.syncJob(f.ctx, "ns/missing"))
	require.NoError(t, f.ctrl.syncJob(f.ctx, "not-a-key/with/slashes"))
	assert.Empty(t, f.client.Actions())
}

var listAll = metav1.ListOptions{}
