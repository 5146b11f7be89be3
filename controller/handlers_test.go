package controller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

func TestPodEventsUpdateExpectationsAndEnqueueBatched(t *testing.T) {
	job := newJob(1, ptr.To[int32](1), 6)
	f := newFixture(t, job)
	logger := klog.FromContext(f.ctx)

	f.ctrl.expectations.expect(job.UID, 1, 1)
	pod := podOf(job, "p", v1.PodRunning)
	f.ctrl.addPod(logger, pod)
	assert.Equal(t, []time.Duration{SyncBatchPeriod}, f.queue.delays["ns/job"], "pod events wait for the batch period")
	assert.False(t, f.ctrl.expectations.satisfied(job.UID), "the deletion is still expected")

	deleting := pod.DeepCopy()
	deleting.ResourceVersion = "2"
	deleting.DeletionTimestamp = ptr.To(metav1.NewTime(testNow))
	f.ctrl.updatePod(logger, pod, deleting)
	assert.True(t, f.ctrl.expectations.satisfied(job.UID), "a deletionTimestamp counts as the observed deletion")

	f.ctrl.expectations.expect(job.UID, 1, 0)
	f.ctrl.updatePod(logger, deleting, deleting)
	assert.False(t, f.ctrl.expectations.satisfied(job.UID), "a resync (same resourceVersion) is ignored")
}

func TestFinalizerRemovalObservedOnUpdate(t *testing.T) {
	job := newJob(1, ptr.To[int32](1), 6)
	f := newFixture(t, job)
	pod := podOf(job, "p", v1.PodSucceeded)
	f.ctrl.finalizerRemovals.expect(job.UID, pod.UID)
	cur := pod.DeepCopy()
	cur.ResourceVersion = "2"
	cur.Finalizers = nil
	f.ctrl.updatePod(klog.FromContext(f.ctx), pod, cur)
	assert.False(t, f.ctrl.finalizerRemovals.pending(job.UID).Has(pod.UID))
}

func TestJobEvents(t *testing.T) {
	job := newJob(1, ptr.To[int32](1), 6)
	f := newFixture(t, job)
	logger := klog.FromContext(f.ctx)

	f.ctrl.addJob(logger, job)
	assert.Equal(t, 1, f.ctrl.queue.Len(), "a new Job is synced at once")
	key, _ := f.ctrl.queue.Get()
	f.ctrl.queue.Done(key)

	edited := job.DeepCopy()
	edited.ResourceVersion, edited.Generation = "2", 2
	f.ctrl.updateJob(logger, job, edited)
	assert.Equal(t, 1, f.ctrl.queue.Len(), "a spec change is synced at once")
	key, _ = f.ctrl.queue.Get()
	f.ctrl.queue.Done(key)

	statusOnly := edited.DeepCopy()
	statusOnly.ResourceVersion = "3"
	f.ctrl.updateJob(logger, edited, statusOnly)
	assert.Equal(t, 0, f.ctrl.queue.Len())
	assert.Contains(t, f.queue.delays["ns/job"], SyncBatchPeriod, "a status-only change is batched")

	external := job.DeepCopy()
	external.Spec.ManagedBy = ptr.To("example.com/other")
	f.ctrl.addJob(logger, external)
	assert.Equal(t, 0, f.ctrl.queue.Len(), "Jobs of other controllers are not queued")
}

func TestDeleteJobForgetsStateByUID(t *testing.T) {
	job := newJob(1, ptr.To[int32](1), 6)
	pod := podOf(job, "p", v1.PodRunning)
	f := newFixture(t, job, pod)
	f.ctrl.expectations.expect(job.UID, 3, 0)
	f.ctrl.backoff.set(job.UID, backoffRecord{failuresSinceSuccess: 2})
	f.ctrl.deleteJob(klog.FromContext(f.ctx), cache.DeletedFinalStateUnknown{Key: "ns/job", Obj: job})

	assert.True(t, f.ctrl.expectations.satisfied(job.UID))
	assert.Equal(t, backoffRecord{}, f.ctrl.backoff.get(job.UID))
	assert.Equal(t, 1, f.ctrl.queue.Len(), "the key is synced to see the Job gone")
	assert.Equal(t, 1, f.ctrl.orphanQueue.Len(), "its pods go to the orphan queue")
}

// TestRecreatedJobStartsClean is field report F16's core: state is keyed by
// UID, so a new Job with an old name inherits nothing.
func TestRecreatedJobStartsClean(t *testing.T) {
	old := newJob(1, ptr.To[int32](1), 6)
	f := newFixture(t)
	f.ctrl.backoff.set(old.UID, backoffRecord{failuresSinceSuccess: 5, lastFailure: testNow})
	f.ctrl.expectations.expect(old.UID, 1, 0)

	recreated := newJob(1, ptr.To[int32](1), 6)
	recreated.UID = "job-uid-2"
	recreated.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] = "job-uid-2"
	recreated.Spec.Template.Labels[batchv1.ControllerUidLabel] = "job-uid-2"
	require.NoError(t, f.jobStore.Add(recreated))
	_, err := f.client.BatchV1().Jobs("ns").Create(f.ctx, recreated, metav1.CreateOptions{})
	require.NoError(t, err)
	f.client.ClearActions()
	require.NoError(t, f.sync(recreated))
	assert.Equal(t, 1, f.counts().creations, "no stale backoff or expectations from the old Job")
}

func TestSyncOrphanPod(t *testing.T) {
	live := newJob(1, ptr.To[int32](1), 6)
	finished := newJob(1, ptr.To[int32](1), 6)
	finished.Name, finished.UID = "finished", "finished-uid"
	finished.Status.Conditions = []batchv1.JobCondition{newCondition(batchv1.JobFailed, v1.ConditionTrue, "x", "", testNow)}
	external := newJob(1, ptr.To[int32](1), 6)
	external.Name, external.UID = "external", "external-uid"
	external.Spec.ManagedBy = ptr.To("example.com/other")
	gone := newJob(1, ptr.To[int32](1), 6)
	gone.Name, gone.UID = "gone", "gone-uid"

	orphan := podOf(live, "orphan", v1.PodSucceeded)
	orphan.OwnerReferences = nil
	cases := []struct {
		name      string
		pod       *v1.Pod
		wantPatch bool
	}{
		{name: "pod of a live Job keeps its finalizer", pod: podOf(live, "p-live", v1.PodSucceeded)},
		{name: "pod of a finished Job loses it", pod: podOf(finished, "p-finished", v1.PodSucceeded), wantPatch: true},
		{name: "pod of a deleted Job loses it", pod: podOf(gone, "p-gone", v1.PodRunning), wantPatch: true},
		{name: "pod without a controller loses it", pod: orphan, wantPatch: true},
		{name: "pod of another controller's Job keeps it", pod: podOf(external, "p-external", v1.PodSucceeded)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, live, finished, external, tc.pod)
			f.client.ClearActions()
			require.NoError(t, f.ctrl.syncOrphanPod(f.ctx, "ns/"+tc.pod.Name))
			assert.Equal(t, tc.wantPatch, f.counts().patches == 1, "actions: %v", f.actionLog())
			if tc.wantPatch {
				p, err := f.client.CoreV1().Pods("ns").Get(f.ctx, tc.pod.Name, metav1.GetOptions{})
				require.NoError(t, err)
				assert.NotContains(t, p.Finalizers, JobTrackingFinalizer)
			}
		})
	}
}

// TestClaimPods is the e2e "adopt matching orphans and release non-matching
// pods" at unit level.
func TestClaimPods(t *testing.T) {
	job := newJob(2, ptr.To[int32](2), 6)
	matchingOrphan := podOf(job, "orphan", v1.PodRunning)
	matchingOrphan.OwnerReferences, matchingOrphan.Finalizers = nil, nil
	unmatching := podOf(job, "unmatching", v1.PodRunning)
	unmatching.Labels = map[string]string{"app": "other"}
	otherController := podOf(job, "other", v1.PodRunning)
	otherController.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "rs-uid", Controller: ptr.To(true)}}

	f := newFixture(t, job, matchingOrphan, unmatching, otherController)
	f.client.ClearActions()
	pods, err := f.ctrl.podsForJob(f.ctx, job)
	require.NoError(t, err)
	require.Len(t, pods, 1)
	assert.Equal(t, "orphan", pods[0].Name)

	adopted, err := f.client.CoreV1().Pods("ns").Get(f.ctx, "orphan", metav1.GetOptions{})
	require.NoError(t, err)
	require.NotNil(t, metav1.GetControllerOf(adopted))
	assert.Equal(t, job.UID, metav1.GetControllerOf(adopted).UID)
	assert.Contains(t, adopted.Finalizers, JobTrackingFinalizer, "adopted pods are tracked like created ones")

	released, err := f.client.CoreV1().Pods("ns").Get(f.ctx, "unmatching", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Nil(t, metav1.GetControllerOf(released), "a pod that no longer matches is released")

	other, err := f.client.CoreV1().Pods("ns").Get(f.ctx, "other", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, otherController.OwnerReferences, other.OwnerReferences, "pods of other controllers are untouched")
	assert.Contains(t, f.actionLog(), "get jobs", "the Job is re-read from the API before adopting")
}

func TestRemovalOrder(t *testing.T) {
	mk := func(name string, node string, phase v1.PodPhase, ready bool, restarts int32, age time.Duration) *v1.Pod {
		p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(testNow.Add(-age))},
			Spec: v1.PodSpec{NodeName: node}, Status: v1.PodStatus{Phase: phase,
				ContainerStatuses: []v1.ContainerStatus{{RestartCount: restarts}}}}
		if ready {
			p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue, LastTransitionTime: metav1.NewTime(testNow.Add(-age))}}
		}
		return p
	}
	pods := []*v1.Pod{
		mk("running-ready-old", "n", v1.PodRunning, true, 0, time.Hour),
		mk("running-ready-new", "n", v1.PodRunning, true, 0, time.Minute),
		mk("running-not-ready", "n", v1.PodRunning, false, 0, time.Hour),
		mk("pending-scheduled", "n", v1.PodPending, false, 0, time.Hour),
		mk("unscheduled", "", v1.PodPending, false, 0, time.Hour),
		mk("unknown", "n", v1.PodUnknown, false, 0, time.Hour),
		mk("running-not-ready-restarted", "n", v1.PodRunning, false, 3, time.Hour),
		mk("running-not-ready-young", "n", v1.PodRunning, false, 0, time.Second),
	}
	var names []string
	for _, p := range removalOrder(pods, len(pods)) {
		names = append(names, p.Name)
	}
	assert.Equal(t, []string{
		"unscheduled", "pending-scheduled", "unknown",
		"running-not-ready-restarted", "running-not-ready-young", "running-not-ready",
		"running-ready-new", "running-ready-old",
	}, names)
	assert.Len(t, removalOrder(pods, 3), 3)
	assert.Equal(t, "running-ready-old", pods[0].Name, "the caller's slice is not reordered")
}
