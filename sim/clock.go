package sim

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"
)

// VirtualClock is a clock whose time moves only when it is told to: by Step,
// by SetTime, or by a Runner that jumps it to the next pending deadline. It
// implements k8s.io/utils/clock.WithTickerAndDelayedExecution, so client-go's
// delaying workqueue, our own workqueue and the controllers can all run on it
// unchanged.
//
// Timers, tickers and AfterFunc callbacks fire while the clock is being moved,
// earliest deadline first; waiters with the same deadline fire in the order
// they were armed, which keeps simulations reproducible. A channel receives the
// clock's new time (a timer that is passed over fires late, exactly like a
// real timer whose goroutine was not scheduled in time). Channels have room
// for one value and a fire onto a full channel is dropped, so moving the clock
// never blocks on a slow reader. AfterFunc callbacks run in their own
// goroutine, as the clock.WithDelayedExecution contract requires; they may arm
// new timers freely.
//
// All methods are safe for concurrent use.
type VirtualClock struct {
	mu sync.Mutex
	// now is the current virtual time. Only setTime changes it.
	now time.Time
	// pending holds every armed waiter ordered by (deadline, seq). A waiter's
	// index is its position here, or -1 while it is not armed. Every deadline
	// in pending is strictly after now: a waiter due at once fires on arming.
	pending waiterHeap
	// armedCount is the number of waiters ever armed; it gives each arming
	// its seq, the tie-breaker between equal deadlines.
	armedCount uint64

	// changes counts every arm, stop, reset and fire. The runner reads it to
	// see whether goroutines are still reacting to the last step (a workqueue
	// arming a timer for an item a handler just added, for example).
	changes atomic.Uint64
	// runningCallbacks is the number of AfterFunc callbacks that have started
	// and not yet returned.
	runningCallbacks atomic.Int64
}

var _ clock.WithTickerAndDelayedExecution = (*VirtualClock)(nil)

// NewVirtualClock returns a clock that reads start until it is moved.
func NewVirtualClock(start time.Time) *VirtualClock {
	return &VirtualClock{now: start}
}

// Now returns the current virtual time.
func (c *VirtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Since returns the virtual time elapsed since t.
func (c *VirtualClock) Since(t time.Time) time.Duration {
	return c.Now().Sub(t)
}

// Step moves the clock forward by d and fires everything that became due.
func (c *VirtualClock) Step(d time.Duration) {
	c.mu.Lock()
	c.setTimeLocked(c.now.Add(d))
}

// SetTime moves the clock to t and fires everything due at or before t.
// Moving the clock backwards is allowed and fires nothing; deadlines stay
// where they were in absolute time.
func (c *VirtualClock) SetTime(t time.Time) {
	c.mu.Lock()
	c.setTimeLocked(t)
}

// NextWakeup returns the earliest deadline of any armed timer, ticker or
// AfterFunc, and false when nothing is armed. A runner jumps the clock there
// to skip the stretch of virtual time in which nothing can happen.
func (c *VirtualClock) NextWakeup() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 {
		return time.Time{}, false
	}
	return c.pending[0].deadline, true
}

// Waiters returns how many timers, tickers and AfterFuncs are armed. Tests use
// it to wait until the code under test has armed its timer.
func (c *VirtualClock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// After returns a channel that receives the time once d has passed.
func (c *VirtualClock) After(d time.Duration) <-chan time.Time {
	return c.NewTimer(d).C()
}

// NewTimer returns a timer that fires once after d. A non-positive d fires at
// once, as with time.NewTimer.
func (c *VirtualClock) NewTimer(d time.Duration) clock.Timer {
	w := &waiter{clock: c, ch: make(chan time.Time, 1), index: -1}
	c.mu.Lock()
	c.armLocked(w, d)
	c.mu.Unlock()
	return (*virtualTimer)(w)
}

// AfterFunc calls f in its own goroutine once d has passed and returns a
// timer that can cancel or reschedule the call. Its C() is nil.
func (c *VirtualClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	w := &waiter{clock: c, fn: f, index: -1}
	c.mu.Lock()
	c.armLocked(w, d)
	c.mu.Unlock()
	return (*virtualTimer)(w)
}

// Tick returns the channel of a new ticker. A non-positive d returns nil,
// as time.Tick does.
func (c *VirtualClock) Tick(d time.Duration) <-chan time.Time {
	if d <= 0 {
		return nil
	}
	return c.NewTicker(d).C()
}

// NewTicker returns a ticker that fires every d. Where time.NewTicker would
// panic on a non-positive d, this ticker simply never fires, so a bad
// interval cannot crash a simulation. Ticks that the clock jumps over are
// dropped, as a real ticker drops ticks for a slow reader: one tick per move,
// and the next one is the first period boundary after the new time.
func (c *VirtualClock) NewTicker(d time.Duration) clock.Ticker {
	w := &waiter{clock: c, ch: make(chan time.Time, 1), period: d, index: -1}
	if d > 0 {
		c.mu.Lock()
		c.armLocked(w, d)
		c.mu.Unlock()
	}
	return (*virtualTicker)(w)
}

// Sleep blocks until the clock has been moved at least d past now. Some other
// goroutine must move the clock, or Sleep never returns.
func (c *VirtualClock) Sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	<-c.After(d)
}

// busy reports whether any AfterFunc callback is still running.
func (c *VirtualClock) busy() bool {
	return c.runningCallbacks.Load() > 0
}

// changeCount returns the number of timer arms, stops, resets and fires so far.
func (c *VirtualClock) changeCount() uint64 {
	return c.changes.Load()
}

// setTimeLocked moves the clock, fires what is due and releases c.mu. The
// callbacks start only after the lock is released, so they may use the clock.
func (c *VirtualClock) setTimeLocked(t time.Time) {
	c.now = t
	var callbacks []func()
	for len(c.pending) > 0 && !c.pending[0].deadline.After(t) {
		w := heap.Pop(&c.pending).(*waiter)
		c.changes.Add(1)
		if w.fn != nil {
			callbacks = append(callbacks, w.fn)
			continue
		}
		w.send(t)
		if w.period > 0 {
			// The first period boundary after t: ticks in between are dropped.
			missed := t.Sub(w.deadline) / w.period
			w.deadline = w.deadline.Add((missed + 1) * w.period)
			c.pushLocked(w)
		}
	}
	c.mu.Unlock()
	for _, f := range callbacks {
		c.startCallback(f)
	}
}

// armLocked schedules w to fire d from now, or fires it at once when d <= 0.
func (c *VirtualClock) armLocked(w *waiter, d time.Duration) {
	c.changes.Add(1)
	w.deadline = c.now.Add(d)
	if d > 0 {
		c.pushLocked(w)
		return
	}
	if w.fn != nil {
		c.startCallback(w.fn)
		return
	}
	w.send(c.now)
}

func (c *VirtualClock) pushLocked(w *waiter) {
	c.armedCount++
	w.seq = c.armedCount
	heap.Push(&c.pending, w)
}

// disarmLocked removes w from pending and reports whether it was armed.
func (c *VirtualClock) disarmLocked(w *waiter) bool {
	if w.index < 0 {
		return false
	}
	heap.Remove(&c.pending, w.index)
	c.changes.Add(1)
	return true
}

// startCallback runs f in its own goroutine and counts it as running until
// it returns, so the runner does not move the clock under its feet.
func (c *VirtualClock) startCallback(f func()) {
	c.runningCallbacks.Add(1)
	go func() {
		defer c.runningCallbacks.Add(-1)
		f()
	}()
}

// waiter is one armed (or disarmed) timer, ticker or AfterFunc.
type waiter struct {
	clock    *VirtualClock
	deadline time.Time
	// period is the ticker interval; zero for timers and AfterFuncs.
	period time.Duration
	// ch receives the fire time; nil for AfterFuncs. Capacity one.
	ch chan time.Time
	// fn is the AfterFunc callback; nil for channel waiters.
	fn    func()
	seq   uint64
	index int
}

// send delivers a fire without ever blocking: a full channel already holds a
// fire its reader has not taken yet, and one pending fire is all a timer or
// ticker can hold.
func (w *waiter) send(t time.Time) {
	select {
	case w.ch <- t:
	default:
	}
}

// drain drops an unread fire and reports whether there was one.
func (w *waiter) drain() bool {
	select {
	case <-w.ch:
		return true
	default:
		return false
	}
}

// virtualTimer is the clock.Timer view of a waiter.
type virtualTimer waiter

func (t *virtualTimer) C() <-chan time.Time { return t.ch }

// Stop disarms the timer. As with Go 1.23 timers, a fire that was not read
// yet is withdrawn (a later receive blocks) and Stop then reports true: the
// reader never saw the timer expire.
func (t *virtualTimer) Stop() bool {
	w := (*waiter)(t)
	w.clock.mu.Lock()
	defer w.clock.mu.Unlock()
	wasArmed := w.clock.disarmLocked(w)
	if w.ch != nil && w.drain() {
		return true
	}
	return wasArmed
}

// Reset re-arms the timer to fire d from now. It reports whether the timer
// was still active, with the same meaning as Stop; an unread fire is
// withdrawn so the reader sees only the new deadline.
func (t *virtualTimer) Reset(d time.Duration) bool {
	w := (*waiter)(t)
	w.clock.mu.Lock()
	defer w.clock.mu.Unlock()
	active := w.clock.disarmLocked(w)
	if w.ch != nil && w.drain() {
		active = true
	}
	w.clock.armLocked(w, d)
	return active
}

// virtualTicker is the clock.Ticker view of a waiter.
type virtualTicker waiter

func (t *virtualTicker) C() <-chan time.Time { return t.ch }

// Stop stops the ticker and withdraws a tick that was not read yet.
func (t *virtualTicker) Stop() {
	w := (*waiter)(t)
	w.clock.mu.Lock()
	defer w.clock.mu.Unlock()
	w.clock.disarmLocked(w)
	w.drain()
}

// waiterHeap orders waiters by deadline, then by arming order.
type waiterHeap []*waiter

func (h waiterHeap) Len() int { return len(h) }

func (h waiterHeap) Less(i, j int) bool {
	if !h[i].deadline.Equal(h[j].deadline) {
		return h[i].deadline.Before(h[j].deadline)
	}
	return h[i].seq < h[j].seq
}

func (h waiterHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *waiterHeap) Push(x any) {
	w := x.(*waiter)
	w.index = len(*h)
	*h = append(*h, w)
}

func (h *waiterHeap) Pop() any {
	old := *h
	n := len(old)
	w := old[n-1]
	old[n-1] = nil
	w.index = -1
	*h = old[:n-1]
	return w
}
