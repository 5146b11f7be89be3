package cronjob

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// minutes returns the slot n minutes after the test CronJob's creation.
func minutes(n int) time.Time { return at(time.Duration(n) * time.Minute) }

// TestCleanupHistory is step 4: which finished Jobs go, in which order.
func TestCleanupHistory(t *testing.T) {
	noStart := func(j *batchv1.Job) *batchv1.Job { j.Status.StartTime = nil; return j }
	deleting := func(j *batchv1.Job) *batchv1.Job {
		j.DeletionTimestamp = ptr.To(metav1.NewTime(created))
		j.Finalizers = []string{"example.com/hold"}
		return j
	}
	renamed := func(name string, j *batchv1.Job) *batchv1.Job { j.Name = name; return j }
	cj := cronJob()
	cases := []struct {
		name        string
		succeeded   *int32
		failed      *int32
		jobs        []*batchv1.Job
		failDelete  bool
		goneFromAPI []string
		deletedByUs []string
		wantDeleted []string
		wantEvents  []string
	}{
		{
			name:      "defaults 3 and 1: the oldest finished Jobs go, running ones never count",
			succeeded: ptr.To[int32](3), failed: ptr.To[int32](1),
			jobs: []*batchv1.Job{
				child(cj, minutes(25), complete), child(cj, minutes(5), complete), child(cj, minutes(15), complete),
				child(cj, minutes(20), complete), child(cj, minutes(10), complete),
				child(cj, minutes(30), failed), child(cj, minutes(40), failed), child(cj, minutes(35), failed),
				child(cj, minutes(1), running), child(cj, minutes(2), running),
			},
			wantDeleted: []string{nameAt(minutes(5)), nameAt(minutes(10)), nameAt(minutes(30)), nameAt(minutes(35))},
		},
		{
			name:      "a Job that never started counts as the newest",
			succeeded: ptr.To[int32](1),
			jobs: []*batchv1.Job{
				noStart(child(cj, minutes(5), complete)), child(cj, minutes(10), complete), child(cj, minutes(15), complete),
			},
			wantDeleted: []string{nameAt(minutes(10)), nameAt(minutes(15))},
		},
		{
			name:      "equal start times: by name",
			succeeded: ptr.To[int32](1),
			jobs: []*batchv1.Job{
				renamed("b", child(cj, minutes(5), complete)), renamed("a", child(cj, minutes(5), complete)), renamed("c", child(cj, minutes(5), complete)),
			},
			wantDeleted: []string{"a", "b"},
		},
		{
			name: "no limit set: nothing is deleted",
			jobs: []*batchv1.Job{child(cj, minutes(5), complete), child(cj, minutes(10), failed), child(cj, minutes(15), failed)},
		},
		{
			name:   "only the failed limit set: Complete Jobs are kept however many",
			failed: ptr.To[int32](1),
			jobs: []*batchv1.Job{
				child(cj, minutes(5), complete), child(cj, minutes(10), complete), child(cj, minutes(15), complete),
				child(cj, minutes(20), complete), child(cj, minutes(25), failed), child(cj, minutes(30), failed),
			},
			wantDeleted: []string{nameAt(minutes(25))},
		},
		{
			name:      "a limit of 0 keeps none",
			succeeded: ptr.To[int32](0), failed: ptr.To[int32](0),
			jobs:        []*batchv1.Job{child(cj, minutes(5), complete), child(cj, minutes(10), failed), child(cj, minutes(15), running)},
			wantDeleted: []string{nameAt(minutes(5)), nameAt(minutes(10))},
		},
		{
			name:      "a Job already being deleted is not counted, nor deleted again (F21)",
			succeeded: ptr.To[int32](1),
			jobs: []*batchv1.Job{
				deleting(child(cj, minutes(5), complete)), child(cj, minutes(10), complete), child(cj, minutes(15), complete),
			},
			wantDeleted: []string{nameAt(minutes(10))},
		},
		{
			name:        "a Job that is gone already (a cache behind our own delete): no event, no error",
			succeeded:   ptr.To[int32](1),
			jobs:        []*batchv1.Job{child(cj, minutes(5), complete), child(cj, minutes(10), complete)},
			goneFromAPI: []string{nameAt(minutes(5))},
			wantDeleted: []string{nameAt(minutes(5))},
			wantEvents:  []string{},
		},
		{
			name:        "a Job this controller deleted already is left alone until the cache drops it",
			succeeded:   ptr.To[int32](1),
			jobs:        []*batchv1.Job{child(cj, minutes(5), complete), child(cj, minutes(10), complete)},
			deletedByUs: []string{nameAt(minutes(5))},
			wantEvents:  []string{},
		},
		{
			name:        "failed deletes are reported, the rest still tried, none retried in this sync",
			succeeded:   ptr.To[int32](1),
			jobs:        []*batchv1.Job{child(cj, minutes(5), complete), child(cj, minutes(10), complete), child(cj, minutes(15), complete)},
			failDelete:  true,
			wantEvents:  []string{"Warning FailedDelete Deleted job: *", "Warning FailedDelete Deleted job: *"},
			wantDeleted: []string{nameAt(minutes(5)), nameAt(minutes(10))},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cj := cronJob(func(cj *batchv1.CronJob) {
				cj.Spec.SuccessfulJobsHistoryLimit = tc.succeeded
				cj.Spec.FailedJobsHistoryLimit = tc.failed
			})
			objects := []runtime.Object{cj}
			for _, j := range tc.jobs {
				objects = append(objects, j)
			}
			f := newFixture(t, minutes(41), objects...)
			if tc.failDelete {
				f.failOn("delete", "jobs", errBoom)
			}
			for _, name := range tc.goneFromAPI {
				require.NoError(t, f.client.Tracker().Delete(batchv1.SchemeGroupVersion.WithResource("jobs"), "default", name))
			}

			for _, name := range tc.deletedByUs {
				f.ctrl.deleted.Store(types.UID("uid-"+name), struct{}{})
			}
			children, err := f.ctrl.childJobs(cj)
			require.NoError(t, err)
			f.ctrl.cleanupHistory(f.ctx, cj.DeepCopy(), children)

			var deleted []string
			for _, a := range f.client.Actions() {
				del, ok := a.(k8stesting.DeleteAction)
				if !ok {
					continue
				}
				deleted = append(deleted, del.GetName())
				opts := del.GetDeleteOptions()
				assert.Equal(t, ptr.To(metav1.DeletePropagationBackground), opts.PropagationPolicy, "pods go with their Job")
				require.NotNil(t, opts.Preconditions)
				assert.NotEmpty(t, *opts.Preconditions.UID, "only the Job that was seen")
			}
			assert.Equal(t, tc.wantDeleted, deleted)
			wantEvents := tc.wantEvents
			if wantEvents == nil {
				for _, name := range tc.wantDeleted {
					wantEvents = append(wantEvents, "Normal SuccessfulDelete Deleted job "+name)
				}
			}
			assertEvents(t, wantEvents, f.events())
		})
	}
}

// TestHistoryInTheSync: cleanup runs before the early exits (a suspended
// CronJob is pruned too), and a deleted Job leaves status.active.
func TestHistoryInTheSync(t *testing.T) {
	cj := cronJob()
	stillListed := child(cj, minutes(20), complete)
	jobs := []*batchv1.Job{child(cj, minutes(5), complete), child(cj, minutes(10), complete), child(cj, minutes(15), complete), stillListed}
	cj = cronJob(listing(stillListed), lastScheduled(minutes(20)), func(cj *batchv1.CronJob) {
		cj.Spec.Suspend = ptr.To(true)
		cj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](0)
	})
	objects := []runtime.Object{cj}
	for _, j := range jobs {
		objects = append(objects, j)
	}
	f := newFixture(t, minutes(22), objects...)

	requeue, err := f.sync()
	require.NoError(t, err)
	assert.Nil(t, requeue, "suspended: no timer")
	assert.Equal(t, []string{
		"delete jobs " + nameAt(minutes(5)), "delete jobs " + nameAt(minutes(10)),
		"delete jobs " + nameAt(minutes(15)), "delete jobs " + nameAt(minutes(20)),
		"update cronjobs/status hello",
	}, f.actions())
	written := f.statusWritten()
	require.NotNil(t, written)
	assert.Empty(t, written.Status.Active, "the deleted Job left status.active; no SawCompletedJob for it")
	assert.Equal(t, metav1.NewTime(minutes(21)), *written.Status.LastSuccessfulTime, "deleted Jobs still counted for lastSuccessfulTime")
	for _, e := range f.events() {
		assert.Contains(t, e, "SuccessfulDelete")
	}
}
