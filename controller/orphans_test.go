package controller

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// ownedJob is a Job named name, managed by managedBy (nil: the built-in
// controller), finished or not.
func ownedJob(name string, managedBy *string, finished bool) *batchv1.Job {
	job := newJob(1, ptr.To[int32](1), 6)
	job.Name, job.UID = name, types.UID(name+"-uid")
	job.Spec.ManagedBy = managedBy
	if finished {
		job.Status.Conditions = []batchv1.JobCondition{newCondition(batchv1.JobComplete, v1.ConditionTrue, ReasonCompletionsReached, "", testNow)}
	}
	return job
}

// managesMode is one way to run the controller: its Config.Manages.
type managesMode struct {
	name    string
	manages func(*batchv1.Job) bool
}

func managesModes(t *testing.T) (beside, inPlace managesMode) {
	besideFn, err := ManagedByPredicate(testControllerName, false)
	require.NoError(t, err)
	inPlaceFn, err := ManagedByPredicate(testControllerName, true)
	require.NoError(t, err)
	return managesMode{"beside the built-in controller", besideFn}, managesMode{"in place of the built-in controller", inPlaceFn}
}

// TestOrphanFinalizerOwnership is the table of D10: whose tracking finalizer
// the orphan clean-up may remove, for a controller running beside the
// built-in one and for one standing in for it.
func TestOrphanFinalizerOwnership(t *testing.T) {
	ours := ptr.To(testControllerName)
	other := ptr.To("example.com/other")

	oursLive := ownedJob("ours-live", ours, false)
	oursFinished := ownedJob("ours-finished", ours, true)
	builtInFinished := ownedJob("builtin-finished", nil, true)
	otherFinished := ownedJob("other-finished", other, true)
	cached := []runtime.Object{oursLive, oursFinished, builtInFinished, otherFinished}

	// Deleted while the controller watched: it saw the last state.
	deletedOurs := ownedJob("deleted-ours", ours, false)
	deletedOther := ownedJob("deleted-other", other, false)
	deletedBuiltIn := ownedJob("deleted-builtin", nil, false)
	// Deleted before the controller started: nobody knows whose it was.
	neverSeen := ownedJob("never-seen", ours, false)
	// In the API but not yet in the cache.
	lagOtherFinished := ownedJob("lag-other-finished", other, true)
	lagOursLive := ownedJob("lag-ours-live", ours, false)
	lagOursFinished := ownedJob("lag-ours-finished", ours, true)

	rsPod := podOf(oursFinished, "rs-pod", v1.PodSucceeded)
	rsPod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "rs-uid", Controller: ptr.To(true)}}
	ownerless := podOf(oursFinished, "ownerless", v1.PodSucceeded)
	ownerless.OwnerReferences = nil

	beside, inPlace := managesModes(t)
	cases := []struct {
		pod                 *v1.Pod
		wantBeside, wantAll bool
	}{
		{pod: podOf(oursFinished, "p-ours-finished", v1.PodSucceeded), wantBeside: true, wantAll: true},
		{pod: podOf(oursLive, "p-ours-live", v1.PodSucceeded)},
		{pod: podOf(builtInFinished, "p-builtin-finished", v1.PodSucceeded), wantAll: true},
		{pod: podOf(otherFinished, "p-other-finished", v1.PodSucceeded)},
		{pod: rsPod},
		{pod: ownerless, wantBeside: true, wantAll: true},
		{pod: podOf(deletedOurs, "p-deleted-ours", v1.PodRunning), wantBeside: true, wantAll: true},
		{pod: podOf(deletedOther, "p-deleted-other", v1.PodRunning)},
		{pod: podOf(deletedBuiltIn, "p-deleted-builtin", v1.PodRunning), wantAll: true},
		{pod: podOf(neverSeen, "p-never-seen", v1.PodRunning), wantAll: true},
		{pod: podOf(lagOtherFinished, "p-lag-other-finished", v1.PodSucceeded)},
		{pod: podOf(lagOursLive, "p-lag-ours-live", v1.PodSucceeded)},
		{pod: podOf(lagOursFinished, "p-lag-ours-finished", v1.PodSucceeded), wantBeside: true, wantAll: true},
	}
	for _, mode := range []managesMode{beside, inPlace} {
		for _, tc := range cases {
			want := tc.wantBeside
			if mode.name == inPlace.name {
				want = tc.wantAll
			}
			t.Run(mode.name+"/"+tc.pod.Name, func(t *testing.T) {
				f := newFixtureWith(t, func(c *Config) { c.Manages = mode.manages }, append(cached, tc.pod)...)
				logger := klog.FromContext(f.ctx)
				for _, job := range []*batchv1.Job{deletedOurs, deletedOther, deletedBuiltIn} {
					f.ctrl.deleteJob(logger, job)
				}
				for _, job := range []*batchv1.Job{lagOtherFinished, lagOursLive, lagOursFinished} {
					_, err := f.client.BatchV1().Jobs(job.Namespace).Create(f.ctx, job, metav1.CreateOptions{})
					require.NoError(t, err)
				}
				f.client.ClearActions()

				require.NoError(t, f.ctrl.syncOrphanPod(f.ctx, "ns/"+tc.pod.Name))
				assert.Equal(t, want, f.counts().patches == 1, "actions: %v", f.actionLog())
				p, err := f.client.CoreV1().Pods("ns").Get(f.ctx, tc.pod.Name, metav1.GetOptions{})
				require.NoError(t, err)
				assert.Equal(t, !want, hasTrackingFinalizer(p))
			})
		}
	}
}

func TestOrphanLookupErrorIsRetried(t *testing.T) {
	gone := ownedJob("gone", nil, false)
	pod := podOf(gone, "p", v1.PodRunning)
	f := newFixture(t, pod)
	f.client.PrependReactor("get", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("apiserver unavailable")
	})
	err := f.ctrl.syncOrphanPod(f.ctx, "ns/p")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "apiserver unavailable")
	assert.Zero(t, f.counts().patches, "nothing is removed while the owner is in doubt")
}

// TestForeignJobEventsTouchNothing: events about another controller's Job
// and its pods queue no key and change no memory.
func TestForeignJobEventsTouchNothing(t *testing.T) {
	beside, _ := managesModes(t)
	other := ownedJob("other", ptr.To("example.com/other"), false)
	otherDone := ownedJob("other", ptr.To("example.com/other"), true)
	otherDone.ResourceVersion = "2"
	pod := podOf(other, "p", v1.PodRunning)
	f := newFixtureWith(t, func(c *Config) { c.Manages = beside.manages }, other, pod)
	logger := klog.FromContext(f.ctx)

	f.ctrl.addJob(logger, other)
	f.ctrl.addPod(logger, pod)
	deleting := markDeleted(pod.DeepCopy())
	deleting.ResourceVersion = "2"
	f.ctrl.updatePod(logger, pod, deleting)
	f.ctrl.updateJob(logger, other, otherDone)
	assert.Zero(t, f.ctrl.queue.Len())
	assert.Empty(t, f.queue.delays, "no batched sync either")
	assert.Zero(t, f.ctrl.orphanQueue.Len(), "a finished foreign Job's pods are not ours to clean")

	f.ctrl.deleteJob(logger, otherDone)
	assert.Zero(t, f.ctrl.orphanQueue.Len(), "nor are a deleted foreign Job's")
	ours, known := f.ctrl.deletedJobs.lookup(other.UID)
	assert.True(t, known)
	assert.False(t, ours)
}

func TestDeletedJobsArePruned(t *testing.T) {
	job := ownedJob("job", nil, false)
	pod := podOf(job, "p", v1.PodRunning)
	f := newFixture(t, job, pod)
	logger := klog.FromContext(f.ctx)

	f.ctrl.deleteJob(logger, job)
	assert.Equal(t, 1, f.ctrl.deletedJobs.len(), "remembered while its pods remain")

	require.NoError(t, f.podStore.Delete(pod))
	f.ctrl.deletePod(logger, pod, true)
	assert.Zero(t, f.ctrl.deletedJobs.len(), "forgotten with its last pod")

	empty := ownedJob("empty", nil, false)
	f.ctrl.deleteJob(logger, empty)
	assert.Zero(t, f.ctrl.deletedJobs.len(), "a Job without pods is not remembered at all")

	// A pod released by orphan deletion (ownerReferences removed) also ends
	// the memory.
	f.ctrl.deleteJob(logger, job)
	require.NoError(t, f.podStore.Add(pod))
	f.ctrl.deleteJob(logger, job)
	released := pod.DeepCopy()
	released.ResourceVersion, released.OwnerReferences = "2", nil
	require.NoError(t, f.podStore.Update(released))
	f.ctrl.updatePod(logger, pod, released)
	assert.Zero(t, f.ctrl.deletedJobs.len())
}
