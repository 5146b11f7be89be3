package ttl

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	clientworkqueue "k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/workqueue"
)

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// recordingQueue remembers AddAfter delays, so a test sees the requeue for
// the time left without running the clock.
type recordingQueue struct {
	clientworkqueue.TypedRateLimitingInterface[string]
	mu     sync.Mutex
	delays []time.Duration
}

func (q *recordingQueue) AddAfter(key string, d time.Duration) {
	q.mu.Lock()
	q.delays = append(q.delays, d)
	q.mu.Unlock()
	q.TypedRateLimitingInterface.AddAfter(key, d)
}

type fixture struct {
	ctx    context.Context
	client *fake.Clientset
	clock  *testingclock.FakeClock
	ctrl   *Controller
	store  cache.Indexer
	queue  *recordingQueue
}

// newFixture builds the controller on a fake clientset holding apiJobs,
// with cachedJobs in its informer cache (the cache may lag the API).
func newFixture(t *testing.T, apiJobs, cachedJobs []*batchv1.Job) *fixture {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	var objects []runtime.Object
	for _, j := range apiJobs {
		objects = append(objects, j)
	}
	f := &fixture{ctx: ctx, client: fake.NewClientset(objects...), clock: testingclock.NewFakeClock(now)}
	factory := informers.NewSharedInformerFactory(f.client, 0)
	jobs := factory.Batch().V1().Jobs()
	ctrl, err := New(ctx, Config{
		Client: f.client, JobInformer: jobs, Clock: f.clock,
		NewQueue: func(name string, clk clock.WithTicker) clientworkqueue.TypedRateLimitingInterface[string] {
			f.queue = &recordingQueue{TypedRateLimitingInterface: workqueue.NewRateLimiting[string](nil, workqueue.Options{Name: name, Clock: clk})}
			return f.queue
		},
	})
	require.NoError(t, err)
	f.ctrl = ctrl
	f.store = jobs.Informer().GetIndexer()
	for _, j := range cachedJobs {
		require.NoError(t, f.store.Add(j))
	}
	f.client.ClearActions()
	return f
}

// finishedJob is a Job that got the terminal condition finishedAgo before
// now; ttl nil means no ttlSecondsAfterFinished.
func finishedJob(condition batchv1.JobConditionType, finishedAgo time.Duration, ttl *int32) *batchv1.Job {
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "job", Namespace: "ns", UID: "uid-1", ResourceVersion: "7"},
		Spec:       batchv1.JobSpec{TTLSecondsAfterFinished: ttl},
	}
	if condition != "" {
		at := metav1.NewTime(now.Add(-finishedAgo))
		job.Status.Conditions = []batchv1.JobCondition{{Type: condition, Status: v1.ConditionTrue, LastTransitionTime: at}}
	}
	return job
}

var jobsResource = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}

// TestSync pins when the controller deletes a Job, how, and when it waits.
func TestSync(t *testing.T) {
	cases := []struct {
		name string
		// cached is the Job in the informer cache; api, the Job the API
		// holds now (nil: the same as cached; absent: deleted).
		cached, api *batchv1.Job
		absent      bool
		deleteErr   error
		// expected
		wantDelete bool
		wantDelays []time.Duration
		wantErr    bool
	}{
		{name: "TTL unset: kept forever",
			cached: finishedJob(batchv1.JobComplete, 24*time.Hour, nil)},
		{name: "not finished: kept",
			cached: finishedJob("", 0, ptr.To[int32](0))},
		{name: "TTL 0: deleted as soon as finished",
			cached: finishedJob(batchv1.JobComplete, 0, ptr.To[int32](0)), wantDelete: true},
		{name: "TTL expired: deleted",
			cached: finishedJob(batchv1.JobComplete, 100*time.Second, ptr.To[int32](100)), wantDelete: true},
		{name: "failed Job: deleted too",
			cached: finishedJob(batchv1.JobFailed, time.Hour, ptr.To[int32](60)), wantDelete: true},
		{name: "TTL ahead: requeued for the time left",
			cached:     finishedJob(batchv1.JobComplete, 10*time.Second, ptr.To[int32](60)),
			wantDelays: []time.Duration{50 * time.Second}},
		{name: "stale cache: the API has a longer TTL",
			cached:     finishedJob(batchv1.JobComplete, 100*time.Second, ptr.To[int32](60)),
			api:        finishedJob(batchv1.JobComplete, 100*time.Second, ptr.To[int32](3600)),
			wantDelays: []time.Duration{3500 * time.Second}},
		{name: "stale cache: the Job was created again under the same name",
			cached: finishedJob(batchv1.JobComplete, time.Hour, ptr.To[int32](60)),
			api: func() *batchv1.Job {
				j := finishedJob("", 0, ptr.To[int32](60))
				j.UID = "uid-2"
				return j
			}()},
		{name: "stale cache: the Job is already gone",
			cached: finishedJob(batchv1.JobComplete, time.Hour, ptr.To[int32](60)), absent: true},
		{name: "being deleted already: nothing to do",
			cached: func() *batchv1.Job {
				j := finishedJob(batchv1.JobComplete, time.Hour, ptr.To[int32](60))
				j.DeletionTimestamp = ptr.To(metav1.NewTime(now))
				return j
			}()},
		{name: "no finish time on the condition: left alone",
			cached: func() *batchv1.Job {
				j := finishedJob(batchv1.JobComplete, time.Hour, ptr.To[int32](60))
				j.Status.Conditions[0].LastTransitionTime = metav1.Time{}
				return j
			}()},
		{name: "the Job changed between the read and the delete: retried",
			cached:     finishedJob(batchv1.JobComplete, time.Hour, ptr.To[int32](60)),
			deleteErr:  apierrors.NewConflict(jobsResource.GroupResource(), "job", errors.New("precondition failed")),
			wantDelete: true, wantErr: true},
		{name: "deleted by someone else in between: done",
			cached:     finishedJob(batchv1.JobComplete, time.Hour, ptr.To[int32](60)),
			deleteErr:  apierrors.NewNotFound(jobsResource.GroupResource(), "job"),
			wantDelete: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := tc.api
			if api == nil {
				api = tc.cached
			}
			var apiJobs []*batchv1.Job
			if !tc.absent {
				apiJobs = append(apiJobs, api)
			}
			f := newFixture(t, apiJobs, []*batchv1.Job{tc.cached})
			if tc.deleteErr != nil {
				f.client.PrependReactor("delete", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, tc.deleteErr
				})
			}

			err := f.ctrl.sync(f.ctx, "ns/job")
			if tc.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
			}

			var deletes []k8stesting.DeleteActionImpl
			for _, a := range f.client.Actions() {
				if d, ok := a.(k8stesting.DeleteActionImpl); ok {
					deletes = append(deletes, d)
				}
			}
			if !tc.wantDelete {
				assert.Empty(t, deletes, "no delete")
			} else {
				require.Len(t, deletes, 1, "one delete")
				opts := deletes[0].DeleteOptions
				assert.Equal(t, ptr.To(metav1.DeletePropagationForeground), opts.PropagationPolicy, "the pods go with the Job")
				require.NotNil(t, opts.Preconditions)
				assert.Equal(t, ptr.To(api.UID), opts.Preconditions.UID, "uid precondition")
				assert.Equal(t, ptr.To(api.ResourceVersion), opts.Preconditions.ResourceVersion, "resourceVersion precondition")
			}
			assert.Equal(t, tc.wantDelays, f.queue.delays, "requeues")
		})
	}
}

func TestMissingOrMalformedKey(t *testing.T) {
	f := newFixture(t, nil, nil)
	require.NoError(t, f.ctrl.sync(f.ctx, "ns/missing"))
	require.NoError(t, f.ctrl.sync(f.ctx, "a/b/c"))
	assert.Empty(t, f.client.Actions())
}

// TestHandlersEnqueueOnlyFinishedJobsWithTTL: the informer events bring in
// the Jobs that may need deleting, and nothing else.
func TestHandlersEnqueueOnlyFinishedJobsWithTTL(t *testing.T) {
	cases := []struct {
		name string
		job  *batchv1.Job
		want int
	}{
		{name: "finished with TTL", job: finishedJob(batchv1.JobComplete, 0, ptr.To[int32](10)), want: 1},
		{name: "finished without TTL", job: finishedJob(batchv1.JobComplete, 0, nil)},
		{name: "running with TTL", job: finishedJob("", 0, ptr.To[int32](10))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil, nil)
			f.ctrl.enqueue(klog.FromContext(f.ctx), tc.job)
			assert.Equal(t, tc.want, f.ctrl.queue.Len())
		})
	}
}

func TestNewChecksConfig(t *testing.T) {
	_, err := New(context.Background(), Config{})
	require.Error(t, err)
	client := fake.NewClientset()
	jobs := informers.NewSharedInformerFactory(client, 0).Batch().V1().Jobs()
	_, err = New(context.Background(), Config{Client: client, JobInformer: jobs, Propagation: "Sometimes"})
	require.ErrorContains(t, err, "Sometimes")
}

// TestRun: the running controller waits out the TTL on its clock and then
// deletes the Job; nothing happens before.
func TestRun(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	clk := testingclock.NewFakeClock(now)
	client := fake.NewClientset(finishedJob(batchv1.JobComplete, 0, ptr.To[int32](30)))
	factory := informers.NewSharedInformerFactory(client, 0)
	ctrl, err := New(ctx, Config{Client: client, JobInformer: factory.Batch().V1().Jobs(), Clock: clk, Propagation: metav1.DeletePropagationBackground})
	require.NoError(t, err)
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() { ctrl.Run(ctx, 2); close(done) }()
	defer func() { cancel(); <-done }()

	exists := func() bool {
		_, err := client.BatchV1().Jobs("ns").Get(ctx, "job", metav1.GetOptions{})
		return err == nil
	}
	require.Eventually(t, func() bool { return ctrl.Idle() && clk.HasWaiters() }, 10*time.Second, time.Millisecond,
		"the controller waits for the TTL")
	clk.Step(29 * time.Second)
	require.Eventually(t, ctrl.Idle, 10*time.Second, time.Millisecond)
	assert.True(t, exists(), "29 s after finishing the Job is still there")
	clk.Step(time.Second)
	require.Eventually(t, func() bool { return !exists() }, 10*time.Second, time.Millisecond, "deleted at 30 s")
	for _, a := range client.Actions() {
		if d, ok := a.(k8stesting.DeleteActionImpl); ok {
			assert.Equal(t, ptr.To(metav1.DeletePropagationBackground), d.DeleteOptions.PropagationPolicy, "the configured policy")
		}
	}
}
