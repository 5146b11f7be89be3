package controller

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
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
// clientset, caches filled by hand, syncJob called directly, and the API
// actions it made compared with what the spec says it must make.

var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type fixture struct {
	t        *testing.T
	ctx      context.Context
	client   *fake.Clientset
	clock    *testingclock.FakeClock
	recorder *record.FakeRecorder
	ctrl     *Controller
	jobStore cache.Indexer
	podStore cache.Indexer
	queue    *recordingQueue
}

// recordingQueue remembers AddAfter calls, so tests can see a requeue for a
// backoff delay without running the clock.
type recordingQueue struct {
	clientworkqueue.TypedRateLimitingInterface[string]
	mu     sync.Mutex
	delays map[string][]time.Duration
}

func (q *recordingQueue) AddAfter(key string, d time.Duration) {
	q.mu.Lock()
	q.delays[key] = append(q.delays[key], d)
	q.mu.Unlock()
	q.TypedRateLimitingInterface.AddAfter(key, d)
}

// delaysOver returns the AddAfter delays for key longer than the pod-event
// batching period, i.e. the real timers.
func (q *recordingQueue) delaysOver(key string, d time.Duration) []time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []time.Duration
	for _, x := range q.delays[key] {
		if x > d {
			out = append(out, x)
		}
	}
	return out
}

func newFixture(t *testing.T, objects ...runtime.Object) *fixture {
	t.Helper()
	return newFixtureWith(t, nil, objects...)
}

// newFixtureWith is newFixture with a chance to change the Config (its
// Manages rule, say) before the controller is built.
func newFixtureWith(t *testing.T, configure func(*Config), objects ...runtime.Object) *fixture {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	f := &fixture{
		t:        t,
		ctx:      ctx,
		client:   fake.NewClientset(objects...),
		clock:    testingclock.NewFakeClock(testNow),
		recorder: record.NewFakeRecorder(1000),
	}
	addGenerateNameReactor(f.client)
	factory := informers.NewSharedInformerFactory(f.client, 0)
	jobInformer := factory.Batch().V1().Jobs()
	podInformer := factory.Core().V1().Pods()
	cfg := Config{
		Client:      f.client,
		JobInformer: jobInformer,
		PodInformer: podInformer,
		Clock:       f.clock,
		Recorder:    f.recorder,
		NewQueue: func(name string, clk clock.WithTicker) clientworkqueue.TypedRateLimitingInterface[string] {
			q := &recordingQueue{TypedRateLimitingInterface: NewQueueFactory(workqueue.ImplementationKjob)(name, clk), delays: map[string][]time.Duration{}}
			if name == "job" {
				f.queue = q
			}
			return q
		},
	}
	if configure != nil {
		configure(&cfg)
	}
	ctrl, err := New(ctx, cfg)
	require.NoError(t, err)
	ctrl.jobsSynced = func() bool { return true }
	ctrl.podsSynced = func() bool { return true }
	f.ctrl = ctrl
	f.jobStore = jobInformer.Informer().GetIndexer()
	f.podStore = podInformer.Informer().GetIndexer()
	for _, obj := range objects {
		switch o := obj.(type) {
		case *batchv1.Job:
			require.NoError(t, f.jobStore.Add(o))
		case *v1.Pod:
			require.NoError(t, f.podStore.Add(o))
		}
	}
	return f
}

// addGenerateNameReactor gives created objects a name from generateName and a
// UID, which the apiserver does and the fake does not.
func addGenerateNameReactor(client *fake.Clientset) {
	var mu sync.Mutex
	n := 0
	client.PrependReactor("create", "*", func(action k8stesting.Action) (bool, runtime.Object, error) {
		obj := action.(k8stesting.CreateAction).GetObject()
		m, err := metaOf(obj)
		if err != nil {
			return false, nil, nil
		}
		mu.Lock()
		n++
		id := n
		mu.Unlock()
		if m.GetName() == "" && m.GetGenerateName() != "" {
			m.SetName(fmt.Sprintf("%s%05d", m.GetGenerateName(), id))
		}
		if m.GetUID() == "" {
			m.SetUID(types.UID(fmt.Sprintf("uid-created-%d", id)))
		}
		return false, nil, nil
	})
}

func metaOf(obj runtime.Object) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no metadata", obj)
	}
	return m, nil
}

func (f *fixture) sync(job *batchv1.Job) error {
	return f.ctrl.syncJob(f.ctx, job.Namespace+"/"+job.Name)
}

// actionCounts tallies the write actions of the last sync by kind.
type actionCounts struct {
	creations, deletions, patches, statusUpdates int
}

func (f *fixture) counts() actionCounts {
	var c actionCounts
	for _, a := range f.client.Actions() {
		switch {
		case a.GetVerb() == "create" && a.GetResource().Resource == "pods":
			c.creations++
		case a.GetVerb() == "delete" && a.GetResource().Resource == "pods":
			c.deletions++
		case a.GetVerb() == "patch" && a.GetResource().Resource == "pods":
			c.patches++
		case a.GetVerb() == "update" && a.GetResource().Resource == "jobs" && a.GetSubresource() == "status":
			c.statusUpdates++
		}
	}
	return c
}

// actionLog renders the actions as "verb resource[/sub] [name]" lines, the
// form the exact-sequence tests compare against.
func (f *fixture) actionLog() []string {
	var out []string
	for _, a := range f.client.Actions() {
		res := a.GetResource().Resource
		if a.GetSubresource() != "" {
			res += "/" + a.GetSubresource()
		}
		line := a.GetVerb() + " " + res
		switch act := a.(type) {
		case k8stesting.DeleteAction:
			line += " " + act.GetName()
		case k8stesting.PatchAction:
			line += " " + act.GetName() + " " + string(act.GetPatch())
		}
		out = append(out, line)
	}
	return out
}

// lastStatus is the status the last status write sent to the API.
func (f *fixture) lastStatus() *batchv1.JobStatus {
	var last *batchv1.JobStatus
	for _, a := range f.client.Actions() {
		if u, ok := a.(k8stesting.UpdateAction); ok && a.GetSubresource() == "status" {
			last = &u.GetObject().(*batchv1.Job).Status
		}
	}
	return last
}

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

// newJob is a Job as the apiserver would store it: defaulted, with a
// generated selector and the matching template labels.
func newJob(parallelism int32, completions *int32, backoffLimit int32) *batchv1.Job {
	labels := map[string]string{
		batchv1.ControllerUidLabel: "job-uid", batchv1.JobNameLabel: "job",
		"controller-uid": "job-uid", "job-name": "job",
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "job", Namespace: "ns", UID: "job-uid", ResourceVersion: "1"},
		Spec: batchv1.JobSpec{
			Parallelism:          ptr.To(parallelism),
			Completions:          completions,
			BackoffLimit:         ptr.To(backoffLimit),
			CompletionMode:       ptr.To(batchv1.NonIndexedCompletion),
			PodReplacementPolicy: ptr.To(batchv1.TerminatingOrFailed),
			Suspend:              ptr.To(false),
			ManualSelector:       ptr.To(false),
			Selector:             &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: "job-uid"}},
			Template: v1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: v1.PodSpec{
					RestartPolicy: v1.RestartPolicyNever,
					Containers:    []v1.Container{{Name: "main", Image: "busybox"}},
				},
			},
		},
	}
}

// podOf returns a pod of job in the given phase, carrying the finalizer.
func podOf(job *batchv1.Job, name string, phase v1.PodPhase) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: job.Namespace, UID: types.UID("uid-" + name), ResourceVersion: "1",
			Labels:          job.Spec.Template.Labels,
			Finalizers:      []string{JobTrackingFinalizer},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))},
		},
		Spec:   v1.PodSpec{NodeName: "node-1"},
		Status: v1.PodStatus{Phase: phase},
	}
}

func markReady(p *v1.Pod) *v1.Pod {
	p.Status.Conditions = append(p.Status.Conditions, v1.PodCondition{Type: v1.PodReady, Status: v1.ConditionTrue})
	return p
}

func markDeleted(p *v1.Pod) *v1.Pod {
	p.DeletionTimestamp = ptr.To(metav1.NewTime(testNow.Add(-time.Minute)))
	return p
}

// podSet builds n pods named prefix-0 … prefix-(n-1).
func podSet(job *batchv1.Job, prefix string, n int, phase v1.PodPhase, mutate ...func(*v1.Pod) *v1.Pod) []*v1.Pod {
	var pods []*v1.Pod
	for i := range n {
		p := podOf(job, fmt.Sprintf("%s-%d", prefix, i), phase)
		for _, m := range mutate {
			p = m(p)
		}
		pods = append(pods, p)
	}
	return pods
}

func conditionSummary(st *batchv1.JobStatus) []string {
	var out []string
	for _, c := range st.Conditions {
		out = append(out, fmt.Sprintf("%s=%s:%s", c.Type, c.Status, c.Reason))
	}
	return out
}

func hasPrefixAny(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
