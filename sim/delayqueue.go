package sim

import (
	"sync"
	"time"

	clientworkqueue "k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// DelayOnClock wraps a rate-limited work queue so that its delays (AddAfter
// and AddRateLimited) are timers on clk itself, armed before AddAfter
// returns, whose callbacks Add the item. limiter must be the limiter queue
// was built with, so retries are spaced and counted as before.
//
// Why a simulation needs it: a workqueue's delay loop is a goroutine of its
// own. Between a controller's AddAfter and that goroutine arming its timer,
// and again between the timer firing and the item reaching the queue, the
// queue looks idle and the clock shows no deadline for the item; on a
// loaded machine that gap can outlast a Runner's quiet spell, and the runner
// jumps past the deadline or reports a stall. A VirtualClock AfterFunc has
// no such gap: the deadline is visible from the moment AddAfter returns,
// and the clock counts the callback as running until the item is queued.
//
// Like the queues it wraps, a second AddAfter of an item already waiting
// keeps the earlier due time. After ShutDown, delays are dropped.
func DelayOnClock[T comparable](queue clientworkqueue.TypedRateLimitingInterface[T], limiter clientworkqueue.TypedRateLimiter[T], clk clock.WithDelayedExecution) clientworkqueue.TypedRateLimitingInterface[T] {
	return &clockDelayedQueue[T]{
		TypedRateLimitingInterface: queue,
		limiter:                    limiter,
		clock:                      clk,
		waiting:                    map[T]delayedAdd{},
	}
}

type clockDelayedQueue[T comparable] struct {
	clientworkqueue.TypedRateLimitingInterface[T]
	limiter clientworkqueue.TypedRateLimiter[T]
	clock   clock.WithDelayedExecution

	mu      sync.Mutex
	waiting map[T]delayedAdd
	closed  bool
}

// delayedAdd is one item's pending Add: its timer and when it is due.
type delayedAdd struct {
	timer clock.Timer
	due   time.Time
}

func (q *clockDelayedQueue[T]) AddAfter(item T, d time.Duration) {
	if d <= 0 {
		q.Add(item)
		return
	}
	due := q.clock.Now().Add(d)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if current, ok := q.waiting[item]; ok {
		if !due.Before(current.due) {
			return
		}
		current.timer.Stop()
	}
	q.waiting[item] = delayedAdd{due: due, timer: q.clock.AfterFunc(d, func() { q.fire(item, due) })}
}

// fire adds item if the timer that fired is still its live one.
func (q *clockDelayedQueue[T]) fire(item T, due time.Time) {
	q.mu.Lock()
	current, ok := q.waiting[item]
	live := ok && current.due.Equal(due)
	if live {
		delete(q.waiting, item)
	}
	q.mu.Unlock()
	if live {
		q.Add(item)
	}
}

func (q *clockDelayedQueue[T]) AddRateLimited(item T) {
	q.AddAfter(item, q.limiter.When(item))
}

func (q *clockDelayedQueue[T]) ShutDown() {
	q.stopDelays()
	q.TypedRateLimitingInterface.ShutDown()
}

func (q *clockDelayedQueue[T]) ShutDownWithDrain() {
	q.stopDelays()
	q.TypedRateLimitingInterface.ShutDownWithDrain()
}

func (q *clockDelayedQueue[T]) stopDelays() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	for item, w := range q.waiting {
		w.timer.Stop()
		delete(q.waiting, item)
	}
}
