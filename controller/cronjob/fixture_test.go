package cronjob

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	clientworkqueue "k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/workqueue"
)

// The fixture follows sample-controller: a real Controller on a fake
// clientset, caches filled by hand, sync called directly on a fake clock,
// and the API actions it made compared with what the spec says.

// created is when the test CronJobs were created: a Sunday, midnight UTC.
var created = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// at returns created plus an offset, e.g. at(5*time.Minute).
func at(d time.Duration) time.Time { return created.Add(d) }

type fixture struct {
	t        *testing.T
	ctx      context.Context
	client   *fake.Clientset
	clock    *testingclock.FakeClock
	recorder *record.FakeRecorder
	ctrl     *Controller
	cronJobs cache.Indexer
	jobs     cache.Indexer
	queue    *recordingQueue
}

// recordingQueue remembers Add and AddAfter calls, so handler tests can see
// what was enqueued and when, without running the clock.
type recordingQueue struct {
	clientworkqueue.TypedRateLimitingInterface[string]
	mu    sync.Mutex
	added []string
}

func (q *recordingQueue) Add(key string) {
	q.record(key + " now")
	q.TypedRateLimitingInterface.Add(key)
}

func (q *recordingQueue) AddAfter(key string, d time.Duration) {
	q.record(fmt.Sprintf("%s after %v", key, d))
	q.TypedRateLimitingInterface.AddAfter(key, d)
}

func (q *recordingQueue) record(s string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.added = append(q.added, s)
}

// take returns and forgets what was enqueued so far.
func (q *recordingQueue) take() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.added
	q.added = nil
	return out
}

// newFixture builds a controller on the fake clock set to now, with
// objects in both the fake API and the informer caches.
func newFixture(t *testing.T, now time.Time, objects ...runtime.Object) *fixture {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	f := &fixture{
		t:        t,
		ctx:      ctx,
		client:   fake.NewClientset(objects...),
		clock:    testingclock.NewFakeClock(now),
		recorder: record.NewFakeRecorder(1000),
	}
	// The apiserver stamps creationTimestamp; the fake does not.
	f.client.PrependReactor("create", "jobs", func(action k8stesting.Action) (bool, runtime.Object, error) {
		obj := action.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
		obj.CreationTimestamp = metav1.NewTime(f.clock.Now())
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(f.client, 0)
	cronJobInformer := factory.Batch().V1().CronJobs()
	jobInformer := factory.Batch().V1().Jobs()
	ctrl, err := New(ctx, Config{
		Client:          f.client,
		CronJobInformer: cronJobInformer,
		JobInformer:     jobInformer,
		Clock:           f.clock,
		Recorder:        f.recorder,
		NewQueue: func(name string, clk clock.WithTicker) clientworkqueue.TypedRateLimitingInterface[string] {
			f.queue = &recordingQueue{TypedRateLimitingInterface: NewQueueFactory(workqueue.ImplementationKjob)(name, clk)}
			return f.queue
		},
	})
	require.NoError(t, err)
	t.Cleanup(f.queue.ShutDown)
	ctrl.cronJobsSynced = func() bool { return true }
	ctrl.jobsSynced = func() bool { return true }
	f.ctrl = ctrl
	f.cronJobs = cronJobInformer.Informer().GetIndexer()
	f.jobs = jobInformer.Informer().GetIndexer()
	for _, obj := range objects {
		switch o := obj.(type) {
		case *batchv1.CronJob:
			require.NoError(t, f.cronJobs.Add(o))
		case *batchv1.Job:
			require.NoError(t, f.jobs.Add(o))
		}
	}
	return f
}

// sync runs one sync of the CronJob "default/hello".
func (f *fixture) sync() (*time.Duration, error) {
	f.t.Helper()
	return f.ctrl.sync(f.ctx, "default/hello")
}

// actions lists the API calls made, minus informer lists and watches, as
// "verb resource[/subresource] [name]".
func (f *fixture) actions() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "list" || a.GetVerb() == "watch" {
			continue
		}
		s := a.GetVerb() + " " + a.GetResource().Resource
		if a.GetSubresource() != "" {
			s += "/" + a.GetSubresource()
		}
		switch a := a.(type) {
		case k8stesting.GetAction:
			s += " " + a.GetName()
		case k8stesting.DeleteAction:
			s += " " + a.GetName()
		case k8stesting.CreateAction:
			s += " " + a.GetObject().(metav1.Object).GetName()
		case k8stesting.UpdateAction:
			s += " " + a.GetObject().(metav1.Object).GetName()
		}
		out = append(out, s)
	}
	return out
}

// action returns the i-th action that actions() lists.
func (f *fixture) action(i int) k8stesting.Action {
	f.t.Helper()
	var kept []k8stesting.Action
	for _, a := range f.client.Actions() {
		if a.GetVerb() != "list" && a.GetVerb() != "watch" {
			kept = append(kept, a)
		}
	}
	require.Greater(f.t, len(kept), i)
	return kept[i]
}

// statusWritten returns the CronJob of the last status write, or nil.
func (f *fixture) statusWritten() *batchv1.CronJob {
	var last *batchv1.CronJob
	for _, a := range f.client.Actions() {
		if u, ok := a.(k8stesting.UpdateAction); ok && a.GetSubresource() == "status" {
			last = u.GetObject().(*batchv1.CronJob)
		}
	}
	return last
}

// events drains the recorder: "Type Reason Message" each.
func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// failOn makes verb on resource fail with err (subresource "" matches any).
func (f *fixture) failOn(verb, resource string, err error) {
	f.client.PrependReactor(verb, resource, func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, err
	})
}

// cronJob is "default/hello", every five minutes, created at `created`,
// with the API defaults filled in; mods adjust it.
func cronJob(mods ...func(*batchv1.CronJob)) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "default", Name: "hello", UID: "cronjob-uid",
			ResourceVersion: "10", CreationTimestamp: metav1.NewTime(created),
		},
		Spec: batchv1.CronJobSpec{
			Schedule:                   "*/5 * * * *",
			ConcurrencyPolicy:          batchv1.AllowConcurrent,
			Suspend:                    ptr.To(false),
			SuccessfulJobsHistoryLimit: ptr.To[int32](3),
			FailedJobsHistoryLimit:     ptr.To[int32](1),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "hello"}, Annotations: map[string]string{"note": "from the template"}},
				Spec: batchv1.JobSpec{
					Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
						RestartPolicy: corev1.RestartPolicyNever,
						Containers:    []corev1.Container{{Name: "hello", Image: "busybox"}},
					}},
				},
			},
		},
	}
	for _, mod := range mods {
		mod(cj)
	}
	return cj
}

func lastScheduled(t time.Time) func(*batchv1.CronJob) {
	return func(cj *batchv1.CronJob) { cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(t)) }
}

func policy(p batchv1.ConcurrencyPolicy) func(*batchv1.CronJob) {
	return func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = p }
}

func listing(jobs ...*batchv1.Job) func(*batchv1.CronJob) {
	return func(cj *batchv1.CronJob) {
		for _, j := range jobs {
			cj.Status.Active = append(cj.Status.Active, activeRef(j))
		}
	}
}

// jobState is what a test Job is doing.
type jobState int

const (
	running jobState = iota
	complete
	failed
)

// child is the Job the CronJob started for slot, in state; it started at
// slot and, when finished, finished a minute later.
func child(cj *batchv1.CronJob, slot time.Time, state jobState) *batchv1.Job {
	job, err := newJob(cj, slot)
	if err != nil {
		panic(err)
	}
	job.UID = types.UID("uid-" + job.Name)
	job.ResourceVersion = "5"
	job.CreationTimestamp = metav1.NewTime(slot)
	job.Status.StartTime = ptr.To(metav1.NewTime(slot))
	end := metav1.NewTime(slot.Add(time.Minute))
	switch state {
	case complete:
		job.Status.CompletionTime = &end
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue},
		}
	case failed:
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue},
		}
	}
	return job
}

// activeNames lists the Job names a status.active holds, sorted.
func activeNames(cj *batchv1.CronJob) []string {
	var out []string
	for _, ref := range cj.Status.Active {
		out = append(out, ref.Name)
	}
	sort.Strings(out)
	return out
}

// nameAt is the Job name of the test CronJob for a slot.
func nameAt(slot time.Time) string { return jobName(cronJob(), slot) }
