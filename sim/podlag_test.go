package sim_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kjob-dev/kjob/sim"
)

// eventLog reads a watch the way an informer does, and keeps what it saw
// as "TYPE name [label]" lines.
type eventLog struct {
	mu    sync.Mutex
	lines []string
}

func (e *eventLog) read(w watch.Interface) {
	for ev := range w.ResultChan() {
		pod := ev.Object.(*corev1.Pod)
		e.mu.Lock()
		e.lines = append(e.lines, fmt.Sprintf("%s %s %s", ev.Type, pod.Name, pod.Labels["step"]))
		e.mu.Unlock()
	}
}

func (e *eventLog) seen() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.lines...)
}

func namedAdded(name string) func(watch.EventType, *corev1.Pod) bool {
	return func(typ watch.EventType, pod *corev1.Pod) bool { return typ == watch.Added && pod.Name == name }
}

func relabel(t *testing.T, c *sim.Cluster, name, step string) {
	t.Helper()
	pods := c.Client().CoreV1().Pods(testNamespace)
	pod, err := pods.Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	pod.Labels["step"] = step
	_, err = pods.Update(context.Background(), pod, metav1.UpdateOptions{})
	require.NoError(t, err)
}

func TestPodWatchLagHoldsMatchingEventsInOrder(t *testing.T) {
	ctx := context.Background()
	c, clk := newTestCluster(t)
	lag := sim.NewPodWatchLag(clk)
	lag.Delay(namedAdded("late"), 30*time.Second)
	w, err := lag.Client(c.Client()).CoreV1().Pods(testNamespace).Watch(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	defer w.Stop()
	var log eventLog
	go log.read(w)
	r := &sim.Runner{Clock: clk, Cluster: c, Idle: []func() bool{lag.Idle}}

	createPod(t, c, testPod("early"))
	createPod(t, c, testPod("late"))
	relabel(t, c, "late", "5s")
	require.NoError(t, r.Settle(ctx))
	assert.Equal(t, []string{"ADDED early "}, log.seen(), "the update of late waits behind its held creation")

	require.NoError(t, r.RunFor(ctx, 29*time.Second))
	assert.Len(t, log.seen(), 1)
	require.NoError(t, r.RunFor(ctx, time.Second))
	assert.Equal(t, []string{"ADDED early ", "ADDED late ", "MODIFIED late 5s"}, log.seen())

	relabel(t, c, "late", "31s")
	require.NoError(t, r.Settle(ctx))
	assert.Equal(t, "MODIFIED late 31s", log.seen()[3], "with nothing held, an event that matches no rule passes at once")
}

func TestPodWatchLagHidesMatchingPodsFromLists(t *testing.T) {
	ctx := context.Background()
	c, clk := newTestCluster(t)
	createPod(t, c, testPod("seen"))
	createPod(t, c, testPod("late"))
	lag := sim.NewPodWatchLag(clk)
	lag.Delay(namedAdded("late"), 30*time.Second)
	pods := lag.Client(c.Client()).CoreV1().Pods(testNamespace)

	list, err := pods.List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, list.Items, 1)
	assert.Equal(t, "seen", list.Items[0].Name)

	w, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	require.NoError(t, err)
	defer w.Stop()
	var log eventLog
	go log.read(w)
	r := &sim.Runner{Clock: clk, Cluster: c, Idle: []func() bool{lag.Idle}}
	require.NoError(t, r.Settle(ctx))
	assert.Empty(t, log.seen())

	require.NoError(t, r.RunFor(ctx, 30*time.Second))
	assert.Equal(t, []string{"ADDED late "}, log.seen(), "the hidden pod arrives on the watch once its delay is over")
}
