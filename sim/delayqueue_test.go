package sim

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientworkqueue "k8s.io/client-go/util/workqueue"

	"github.com/kjob-dev/kjob/workqueue"
)

func newDelayedQueue(t *testing.T) (clientworkqueue.TypedRateLimitingInterface[string], *VirtualClock) {
	t.Helper()
	clk := NewVirtualClock(runnerStart)
	limiter := workqueue.NewItemExponentialFailureRateLimiter[string](time.Second, time.Minute)
	// The project's queue arms no timer of its own while nothing is
	// delayed (client-go's keeps a heartbeat ticker), so the clock's
	// waiters are exactly the wrapper's.
	inner := workqueue.NewRateLimiting[string](limiter, workqueue.Options{Clock: clk})
	q := DelayOnClock(inner, limiter, clk)
	t.Cleanup(q.ShutDown)
	return q, clk
}

func TestDelayOnClockArmsBeforeAddAfterReturns(t *testing.T) {
	q, clk := newDelayedQueue(t)

	q.AddAfter("a", 5*time.Minute)
	next, ok := clk.NextWakeup()
	require.True(t, ok, "the deadline is on the clock at once")
	assert.Equal(t, runnerStart.Add(5*time.Minute), next)

	q.AddAfter("a", 10*time.Minute)
	assert.Equal(t, 1, clk.Waiters(), "a later due time for a waiting item changes nothing")
	q.AddAfter("a", time.Minute)
	next, _ = clk.NextWakeup()
	assert.Equal(t, runnerStart.Add(time.Minute), next, "an earlier one replaces it")
	assert.Equal(t, 1, clk.Waiters())

	clk.Step(time.Minute)
	require.Eventually(t, func() bool { return q.Len() == 1 }, 10*time.Second, time.Millisecond)
	item, _ := q.Get()
	assert.Equal(t, "a", item)
	q.Done(item)
	assert.Equal(t, 0, clk.Waiters(), "the replaced timer never fires")

	q.AddAfter("b", 0)
	assert.Equal(t, 1, q.Len(), "no delay: added at once")
}

func TestDelayOnClockRateLimitsWithTheLimiter(t *testing.T) {
	q, clk := newDelayedQueue(t)
	q.AddRateLimited("a")
	next, _ := clk.NextWakeup()
	assert.Equal(t, runnerStart.Add(time.Second), next)
	clk.Step(time.Second)
	require.Eventually(t, func() bool { return q.Len() == 1 }, 10*time.Second, time.Millisecond)
	item, _ := q.Get()
	q.AddRateLimited(item)
	q.Done(item)
	next, _ = clk.NextWakeup()
	assert.Equal(t, runnerStart.Add(3*time.Second), next, "the second retry waits twice as long")
	assert.Equal(t, 2, q.NumRequeues("a"))
	q.Forget("a")
	assert.Equal(t, 0, q.NumRequeues("a"))
}

func TestDelayOnClockShutDownDropsDelays(t *testing.T) {
	q, clk := newDelayedQueue(t)
	q.AddAfter("a", time.Minute)
	q.ShutDown()
	assert.Equal(t, 0, clk.Waiters())
	q.AddAfter("b", time.Minute)
	assert.Equal(t, 0, clk.Waiters(), "ignored after shutdown")
}

// A chain of requeues from a worker that is slow in real time runs on the
// runner without a stall and without a deadline missed: ten one-minute
// requeues end after exactly ten minutes of virtual time. (Without the
// wrapper this passes too, unless the queue's delay goroutine happens to be
// descheduled for longer than the quiet spell: the race the wrapper closes,
// and which TestDelayOnClockArmsBeforeAddAfterReturns pins.)
func TestDelayOnClockKeepsARunnerFromStalling(t *testing.T) {
	q, clk := newDelayedQueue(t)
	var rounds atomic.Int32
	var busy atomic.Bool
	go func() {
		for {
			item, shutdown := q.Get()
			if shutdown {
				return
			}
			busy.Store(true)
			if rounds.Add(1) < 10 {
				q.AddAfter(item, time.Minute)
			}
			q.Done(item)
			busy.Store(false)
			time.Sleep(5 * time.Millisecond) // a slow worker, descheduled
		}
	}()
	r := &Runner{Clock: clk, Idle: []func() bool{func() bool { return q.Len() == 0 && !busy.Load() }}}
	q.AddAfter("key", time.Minute)

	err := r.RunUntil(context.Background(), func() bool { return rounds.Load() == 10 }, time.Hour)

	require.NoError(t, err)
	assert.Equal(t, runnerStart.Add(10*time.Minute), clk.Now())
}
