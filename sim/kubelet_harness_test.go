package sim

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/kjob-dev/kjob/internal/testutil"
)

// klHarness runs a Kubelet on a fake clientset and a fake clock. Every
// wait in it is for the kubelet to catch up with an event, never for time
// to pass: time moves only through step.
type klHarness struct {
	t       *testing.T
	client  *fake.Clientset
	clock   *testingclock.FakeClock
	wall    *testingclock.FakeClock
	kubelet *Kubelet
	log     *testutil.SyncBuffer
	cancel  context.CancelFunc
	done    chan error
	start   time.Time

	mu sync.Mutex
	// finalDeletes records the grace period of every delete of a pod.
	finalDeletes map[string][]int64
}

// klKeepDeletedPods makes deletes leave the pod in place, as the API does
// while finalizers remain, so a test can read the final status.
type klKeepDeletedPods bool

var klEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newKlHarness(t *testing.T, opts KubeletOptions, keep klKeepDeletedPods) *klHarness {
	t.Helper()
	h := &klHarness{
		t:            t,
		client:       fake.NewClientset(),
		clock:        testingclock.NewFakeClock(klEpoch),
		wall:         testingclock.NewFakeClock(klEpoch),
		log:          &testutil.SyncBuffer{},
		done:         make(chan error, 1),
		start:        klEpoch,
		finalDeletes: map[string][]int64{},
	}
	h.client.PrependReactor("delete", "pods", func(action clienttesting.Action) (bool, runtime.Object, error) {
		del := action.(clienttesting.DeleteActionImpl)
		h.mu.Lock()
		h.finalDeletes[del.Name] = append(h.finalDeletes[del.Name], ptr.Deref(del.DeleteOptions.GracePeriodSeconds, -1))
		h.mu.Unlock()
		return bool(keep), nil, nil
	})
	opts.Log = h.log
	h.kubelet = NewKubelet(h.client, h.clock, opts)
	h.kubelet.exec.wall = h.wall
	_, testCtx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(testCtx)
	h.cancel = cancel
	go func() { h.done <- h.kubelet.Run(ctx) }()
	t.Cleanup(h.stop)
	h.waitIdle()
	return h
}

// stop ends Run and waits for it, which includes reaping every process.
func (h *klHarness) stop() {
	h.cancel()
	select {
	case err := <-h.done:
		require.NoError(h.t, err)
		h.done <- err // a second stop returns at once
	case <-time.After(10 * time.Second):
		h.t.Fatal("kubelet Run did not return after its context ended")
	}
}

// klEventually polls cond until it holds. The limit only turns a hang into
// a failure; no test depends on how long anything takes.
func klEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	limit := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(limit) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (h *klHarness) waitIdle() {
	h.t.Helper()
	klEventually(h.t, "the kubelet to be idle", h.kubelet.Idle)
}

// step moves virtual time once the kubelet has settled, then lets it
// settle again.
func (h *klHarness) step(d time.Duration) {
	h.t.Helper()
	h.waitIdle()
	h.clock.Step(d)
	h.waitIdle()
}

// at is the virtual time offset from the start of the test.
func (h *klHarness) at(offset time.Duration) metav1.Time {
	return metav1.NewTime(h.start.Add(offset))
}

func (h *klHarness) create(pod *corev1.Pod) {
	h.t.Helper()
	_, err := h.client.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	require.NoError(h.t, err)
}

// createAndAccept creates the pod and waits until the kubelet took it on.
func (h *klHarness) createAndAccept(pod *corev1.Pod) {
	h.t.Helper()
	h.create(pod)
	h.waitFor(pod.Name, "accepted", func(p *corev1.Pod) bool { return p.Status.StartTime != nil })
}

func (h *klHarness) get(name string) *corev1.Pod {
	h.t.Helper()
	pod, err := h.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(h.t, err)
	return pod
}

func (h *klHarness) gone(name string) bool {
	_, err := h.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	return apierrors.IsNotFound(err)
}

// waitFor waits until the pod satisfies cond, then until the kubelet is
// idle.
func (h *klHarness) waitFor(name, what string, cond func(*corev1.Pod) bool) {
	h.t.Helper()
	klEventually(h.t, name+" "+what, func() bool {
		pod, err := h.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && cond(pod)
	})
	h.waitIdle()
}

func (h *klHarness) waitPhase(name string, phase corev1.PodPhase) {
	h.t.Helper()
	h.waitFor(name, "in phase "+string(phase), func(p *corev1.Pod) bool { return p.Status.Phase == phase })
}

// markDeleted does what the apiserver does on a graceful delete: it sets
// the deletion timestamp and grace period and leaves the pod in place.
func (h *klHarness) markDeleted(name string, grace int64) {
	h.t.Helper()
	pod := h.get(name)
	pod.DeletionTimestamp = ptr.To(metav1.NewTime(h.clock.Now()))
	pod.DeletionGracePeriodSeconds = ptr.To(grace)
	_, err := h.client.CoreV1().Pods("default").Update(context.Background(), pod, metav1.UpdateOptions{})
	require.NoError(h.t, err)
}

// waitTracked waits until the kubelet's own record of the pod satisfies
// cond (nil when it has none): the only way to know it has seen an event
// that changes nothing in the API at once.
func (h *klHarness) waitTracked(name, what string, cond func(*simPod) bool) {
	h.t.Helper()
	klEventually(h.t, name+" "+what, func() bool {
		ok := false
		h.onLoop(func() {
			var found *simPod
			for _, sp := range h.kubelet.pods {
				if sp.name == name {
					found = sp
				}
			}
			ok = cond(found)
		})
		return ok
	})
	h.waitIdle()
}

func (h *klHarness) deletes(name string) []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int64(nil), h.finalDeletes[name]...)
}

// onLoop runs fn on the kubelet loop and waits for it, for reading
// loop-owned state without a data race.
func (h *klHarness) onLoop(fn func()) {
	h.t.Helper()
	done := make(chan struct{})
	h.kubelet.post(func() { fn(); close(done) })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		h.t.Fatal("kubelet loop did not run posted work")
	}
}

// klPod is a Job-owned pod as the Job controller creates it.
func klPod(name string, policy corev1.RestartPolicy, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   "default",
			UID:         types.UID("uid-" + name),
			Annotations: annotations,
			Labels: map[string]string{
				labelJobName:       "work",
				labelControllerUID: "job-uid-work",
			},
		},
		Spec: corev1.PodSpec{
			RestartPolicy: policy,
			Containers:    []corev1.Container{{Name: "main", Image: "busybox"}},
		},
	}
}

// klSummary is a one-line view of what a pod's status says, for tables.
func klSummary(p *corev1.Pod) string {
	var b strings.Builder
	b.WriteString(string(p.Status.Phase))
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			fmt.Fprintf(&b, " ready=%s", c.Status)
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		fmt.Fprintf(&b, " %s=%s restarts=%d", cs.Name, klState(cs.State), cs.RestartCount)
		if cs.LastTerminationState.Terminated != nil {
			fmt.Fprintf(&b, " last=%s", klState(cs.LastTerminationState))
		}
	}
	return b.String()
}

func klState(s corev1.ContainerState) string {
	switch {
	case s.Waiting != nil:
		return "waiting(" + s.Waiting.Reason + ")"
	case s.Running != nil:
		return "running"
	case s.Terminated != nil:
		return fmt.Sprintf("terminated(%d %s)", s.Terminated.ExitCode, s.Terminated.Reason)
	}
	return "none"
}
