package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stesting "k8s.io/client-go/testing"
	clientworkqueue "k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/controller"
	"github.com/kjob-dev/kjob/sim"
)

// realWait bounds every wait on something that runs in real time here:
// leader election and the HTTP server.
const realWait = 20 * time.Second

func simJob(name string, managedBy *string) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceDefault},
		Spec: batchv1.JobSpec{
			Completions: ptr.To[int32](3),
			Parallelism: ptr.To[int32](2),
			ManagedBy:   managedBy,
			Template: v1.PodTemplateSpec{Spec: v1.PodSpec{
				RestartPolicy: v1.RestartPolicyNever,
				Containers:    []v1.Container{{Name: "main", Image: "busybox"}},
			}},
		},
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// simCluster is the simulator's in-memory cluster with a kubelet running.
type simCluster struct {
	clock   *sim.VirtualClock
	cluster *sim.Cluster
	kubelet *sim.Kubelet
}

func newSimCluster(t *testing.T, ctx context.Context) *simCluster {
	clk := sim.NewVirtualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cluster := sim.NewCluster(clk)
	kubelet := sim.NewKubelet(cluster.Client(), clk, sim.KubeletOptions{DefaultRuntime: sim.RuntimeScripted})
	ctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = kubelet.Run(ctx)
	}()
	t.Cleanup(func() { stop(); <-done })
	return &simCluster{clock: clk, cluster: cluster, kubelet: kubelet}
}

func (c *simCluster) create(t *testing.T, ctx context.Context, jobs ...*batchv1.Job) {
	t.Helper()
	for _, job := range jobs {
		_, err := c.cluster.Client().BatchV1().Jobs(job.Namespace).Create(ctx, job, metav1.CreateOptions{})
		require.NoError(t, err)
	}
}

// runUntilComplete moves virtual time until every named Job is Complete,
// then on for another minute, many times the controller's batching period,
// to give the other Jobs every chance to be (wrongly) picked up. ctrl is
// the controller that leads. (The queues' metrics tick every 500 ms of
// virtual time, so each virtual minute costs a little real time.)
func (c *simCluster) runUntilComplete(t *testing.T, ctx context.Context, ctrl *controller.Controller, names ...string) {
	t.Helper()
	runner := &sim.Runner{Clock: c.clock, Cluster: c.cluster, Idle: []func() bool{ctrl.Idle, c.kubelet.Idle}}
	complete := func() bool {
		for _, name := range names {
			job, err := c.cluster.Client().BatchV1().Jobs(metav1.NamespaceDefault).Get(ctx, name, metav1.GetOptions{})
			if err != nil || !hasCondition(job, batchv1.JobComplete) {
				return false
			}
		}
		return true
	}
	require.NoError(t, runner.RunUntil(ctx, complete, time.Hour), "Jobs %v complete", names)
	require.NoError(t, runner.RunFor(ctx, time.Minute))
}

func (c *simCluster) leaseHolder(ctx context.Context) string {
	lease, err := c.cluster.Client().CoordinationV1().Leases(leaseNamespace).Get(ctx, defaultLeaseName, metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// leaseNamespace is where the tests keep the Lease.
const leaseNamespace = "kube-system"

// runningController is one replica of the command, started by start.
type runningController struct {
	base string // http://host:port of its server
	ctrl atomic.Pointer[controller.Controller]
	all  atomic.Pointer[controllers]
	stop context.CancelFunc
	done chan error
}

// start runs the command's run function with args on the cluster.
func (c *simCluster) start(t *testing.T, ctx context.Context, args ...string) *runningController {
	t.Helper()
	o, err := parseOptions(append([]string{"--leader-elect-namespace=" + leaseNamespace}, args...), io.Discard)
	require.NoError(t, err)
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, stop := context.WithCancel(ctx)
	r := &runningController{base: "http://" + listener.Addr().String(), stop: stop, done: make(chan error, 1)}
	go func() {
		r.done <- run(ctx, o, runEnv{client: c.cluster.Client(), clock: c.clock, listener: listener,
			built: func(cs *controllers) { r.ctrl.Store(cs.job); r.all.Store(cs) },
			// Requeues become timers on the virtual clock at once, so the
			// runner never jumps past one (sim.DelayOnClock).
			wrapQueue: func(q clientworkqueue.TypedRateLimitingInterface[string], rl clientworkqueue.TypedRateLimiter[string]) clientworkqueue.TypedRateLimitingInterface[string] {
				return sim.DelayOnClock(q, rl, c.clock)
			}})
	}()
	t.Cleanup(stop)
	require.Eventually(t, func() bool {
		code, _ := httpGet(t, r.base+"/readyz")
		return code == http.StatusOK
	}, realWait, 10*time.Millisecond, "ready once the caches are synced")
	return r
}

// shutDown stops the replica and waits for a clean exit.
func (r *runningController) shutDown(t *testing.T) {
	t.Helper()
	r.stop()
	select {
	case err := <-r.done:
		require.NoError(t, err, "a requested stop is a clean exit")
	case <-time.After(realWait):
		t.Fatal("run did not return after the stop")
	}
	_, err := http.Get(r.base + "/healthz")
	assert.Error(t, err, "the server is down")
}

// syncs is how many Job syncs the replica has finished, from its /metrics.
func (r *runningController) syncs(t *testing.T) float64 {
	t.Helper()
	n, ok := queueSample(families(t, httpBody(t, r.base+"/metrics")), "workqueue_work_duration_seconds", "job")
	require.True(t, ok)
	return n
}

// TestRunOnSimulatedCluster runs the command's run function, leader election
// included, against the simulator's in-memory cluster: the Jobs that are
// this controller's complete, and the Jobs of other controllers get no pod,
// no status write and no Event. A stop releases the Lease.
func TestRunOnSimulatedCluster(t *testing.T) {
	cases := []struct {
		name            string
		args            []string
		ours, untouched []string
	}{
		{name: "beside the built-in controller",
			ours: []string{"ours"}, untouched: []string{"other", "builtin", "builtin-explicit"}},
		{name: "in place of the built-in controller", args: []string{"--manage-builtin-jobs"},
			ours: []string{"ours", "builtin", "builtin-explicit"}, untouched: []string{"other"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			c := newSimCluster(t, ctx)
			c.create(t, ctx, simJob("ours", ptr.To(defaultManagedBy)), simJob("other", ptr.To("example.com/other")),
				simJob("builtin", nil), simJob("builtin-explicit", ptr.To(controller.BuiltInControllerName)))

			r := c.start(t, ctx, tc.args...)
			require.Eventually(t, func() bool { return c.leaseHolder(ctx) != "" }, realWait, 10*time.Millisecond, "the Lease is taken")
			code, body := httpGet(t, r.base+"/healthz")
			assert.Equal(t, http.StatusOK, code, body)

			c.runUntilComplete(t, ctx, r.ctrl.Load(), tc.ours...)
			for _, name := range tc.ours {
				job, err := c.cluster.Client().BatchV1().Jobs(metav1.NamespaceDefault).Get(ctx, name, metav1.GetOptions{})
				require.NoError(t, err)
				assert.Equal(t, int32(3), job.Status.Succeeded, name)
			}
			assertUntouched(t, c.cluster, tc.untouched...)

			fams := families(t, httpBody(t, r.base+"/metrics"))
			adds, ok := queueSample(fams, "workqueue_adds_total", "job")
			require.True(t, ok)
			assert.Positive(t, adds)
			assert.Positive(t, r.syncs(t))

			r.shutDown(t)
			assert.Empty(t, c.leaseHolder(ctx), "the Lease is released on the way out")
		})
	}
}

// TestStandbyTakesOver: a second replica is ready but idle while the first
// leads; when the first stops, the released Lease lets the second take over
// at once, and it finishes the next Job.
func TestStandbyTakesOver(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	c := newSimCluster(t, ctx)
	// Short lease times keep the campaign quick; a released Lease is taken
	// at the standby's next retry.
	fast := []string{"--leader-elect-lease-duration=3s", "--leader-elect-renew-deadline=2s", "--leader-elect-retry-period=100ms"}

	first := c.start(t, ctx, fast...)
	require.Eventually(t, func() bool { return c.leaseHolder(ctx) != "" }, realWait, 10*time.Millisecond)
	firstHolder := c.leaseHolder(ctx)
	second := c.start(t, ctx, fast...)

	c.create(t, ctx, simJob("one", ptr.To(defaultManagedBy)))
	c.runUntilComplete(t, ctx, first.ctrl.Load(), "one")
	assert.Zero(t, second.syncs(t), "the standby syncs nothing")
	assert.Equal(t, firstHolder, c.leaseHolder(ctx))

	first.shutDown(t)
	require.Eventually(t, func() bool {
		h := c.leaseHolder(ctx)
		return h != "" && h != firstHolder
	}, realWait, 10*time.Millisecond, "the standby takes the released Lease")

	c.create(t, ctx, simJob("two", ptr.To(defaultManagedBy)))
	c.runUntilComplete(t, ctx, second.ctrl.Load(), "two")
	assert.Positive(t, second.syncs(t))
	second.shutDown(t)
}

func httpBody(t *testing.T, url string) io.Reader {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return resp.Body
}

func hasCondition(job *batchv1.Job, typ batchv1.JobConditionType) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == typ && c.Status == v1.ConditionTrue {
			return true
		}
	}
	return false
}

// assertUntouched checks, from the API's record of every request, that
// nothing but their creation ever wrote the given Jobs, that no pod was
// created for them, and that no Event names them.
func assertUntouched(t *testing.T, cluster *sim.Cluster, jobs ...string) {
	t.Helper()
	names := map[string]bool{}
	for _, j := range jobs {
		names[j] = true
	}
	for _, a := range cluster.Fake().Actions() {
		switch {
		case a.Matches("update", "jobs"), a.Matches("patch", "jobs"), a.Matches("delete", "jobs"):
			name := ""
			switch act := a.(type) {
			case k8stesting.UpdateAction:
				name = act.GetObject().(*batchv1.Job).Name
			case k8stesting.PatchAction:
				name = act.GetName()
			case k8stesting.DeleteAction:
				name = act.GetName()
			}
			assert.False(t, names[name], "%s %s/%s on another controller's Job %s", a.GetVerb(), a.GetResource().Resource, a.GetSubresource(), name)
		case a.Matches("create", "pods") && a.GetSubresource() == "":
			pod := a.(k8stesting.CreateAction).GetObject().(*v1.Pod)
			if ref := metav1.GetControllerOf(pod); ref != nil {
				assert.False(t, names[ref.Name], "pod created for another controller's Job %s", ref.Name)
			}
		case a.Matches("create", "events"):
			ev := a.(k8stesting.CreateAction).GetObject().(*v1.Event)
			assert.False(t, names[ev.InvolvedObject.Name], "event %s on another controller's Job", ev.Reason)
		}
	}
	for _, name := range jobs {
		got, err := cluster.Client().BatchV1().Jobs(metav1.NamespaceDefault).Get(context.Background(), name, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, batchv1.JobStatus{}, got.Status, "status of %s", name)
	}
}
