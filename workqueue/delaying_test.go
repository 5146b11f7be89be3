package workqueue

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"
)

// clockSteppedWhileArming is a fake clock that moves forward by step the
// first time a timer is created: the moment between the waiter reading the
// clock and arming its timer, where a simulator stepping virtual time in
// parallel could land.
type clockSteppedWhileArming struct {
	*testingclock.FakeClock
	step    time.Duration
	stepped atomic.Bool
}

func (c *clockSteppedWhileArming) NewTimer(d time.Duration) clock.Timer {
	if c.stepped.CompareAndSwap(false, true) {
		c.Step(c.step)
	}
	return c.FakeClock.NewTimer(d)
}

// TestWaiterRearmsWhenClockMovesWhileArming checks the waiter re-reads the
// clock when it moved during arming. Otherwise the timer, measured from the
// stale reading, would fire late by the distance moved.
func TestWaiterRearmsWhenClockMovesWhileArming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := &clockSteppedWhileArming{FakeClock: testingclock.NewFakeClock(testStartTime()), step: 400 * time.Millisecond}
		q := newQueue(NewItemExponentialFailureRateLimiter[string](time.Second, time.Minute), Options{Clock: clk})
		t.Cleanup(q.ShutDown)

		q.AddAfter("a", time.Second)
		synctest.Wait()
		clk.Step(600 * time.Millisecond) // one second after AddAfter
		synctest.Wait()
		assert.Equal(t, 1, q.Len(), "the item is late")
	})
}

// TestIdleWaiterHoldsNoTimer checks that once nothing is waiting the queue
// holds no timer on its clock, so a simulation can tell it is idle.
func TestIdleWaiterHoldsNoTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := testingclock.NewFakeClock(testStartTime())
		q := newQueue(NewItemExponentialFailureRateLimiter[string](time.Second, time.Minute), Options{Clock: clk})
		t.Cleanup(q.ShutDown)
		assert.False(t, clk.HasWaiters(), "a new queue")

		q.AddAfter("a", time.Second)
		synctest.Wait()
		assert.True(t, clk.HasWaiters(), "while an item waits")

		clk.Step(time.Second)
		synctest.Wait()
		assert.False(t, clk.HasWaiters(), "after the last item was released")
	})
}
