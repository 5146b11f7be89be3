package workqueue

import (
	"math"
	"time"

	"k8s.io/utils/clock"
)

// AddAfter adds item once delay has passed on the queue's clock. A
// non-positive delay adds it at once. If the item is already waiting, the
// earlier of the two due times wins: a retry is never pushed further away by
// a second request, and the item is added only once. Ignored after shutdown.
func (q *queue[T]) AddAfter(item T, delay time.Duration) {
	if delay <= 0 {
		q.mu.Lock()
		if !q.shuttingDown {
			q.metrics.retried()
			q.addLocked(item)
		}
		q.mu.Unlock()
		return
	}
	due := q.sinceEpoch(q.clock.Now(), delay)

	q.delayMu.Lock()
	defer q.delayMu.Unlock()
	if q.delaysClosed {
		return
	}
	q.metrics.retried()
	if current, ok := q.waitingUntil[item]; ok && due >= current {
		return
	}
	// Either new, or earlier than the current entry. The current entry stays
	// in the heap but no longer matches waitingUntil, so it will be skipped.
	q.waitingUntil[item] = due
	q.waiting.push(waitEntry[T]{item: item, due: due})
	if !q.waiterStarted {
		q.waiterStarted = true
		q.background.Add(1)
		go q.runWaiter()
		return
	}
	if q.waiting[0].due == due {
		// The earliest due time moved closer; the waiter's timer is now
		// late. (When the new entry is not first, the timer already fires
		// in time and nobody needs waking.)
		select {
		case q.wakeWaiter <- struct{}{}:
		default:
		}
	}
}

// maxArmingDrift bounds how far the clock may move while the waiter arms its
// timer. The timer is given a duration measured from a clock reading taken
// just before; if the clock moved in between (a virtual clock stepped by a
// test or simulator), the timer would fire late by that much. Past this
// bound the waiter reads the clock again and re-arms. A real clock moves
// far less than this while arming.
const maxArmingDrift = time.Millisecond

// runWaiter is the single goroutine behind AddAfter. It sleeps until the
// earliest due time, moves every due item into the FIFO, and sleeps again.
// It exits when the queue shuts down.
func (q *queue[T]) runWaiter() {
	defer q.background.Done()
	var timer clock.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	// due is reused from round to round, so releasing allocates nothing
	// once it has grown to the largest batch.
	var due []T
	for {
		now := q.clock.Now()
		nowOffset := q.sinceEpoch(now, 0)
		var next time.Duration
		var pending, closed bool
		due, next, pending, closed = q.takeDue(nowOffset, due[:0])
		if closed {
			return
		}
		q.addAll(due)
		clear(due) // drop references for the garbage collector
		var fired <-chan time.Time
		if pending {
			timer = armTimer(q.clock, timer, next-nowOffset)
			if q.clock.Since(now) > maxArmingDrift {
				continue
			}
			fired = timer.C()
		} else if timer != nil {
			// Hold no timer while nothing waits, so a virtual clock sees
			// an idle queue as idle.
			stopTimer(timer)
		}
		select {
		case <-fired:
		case <-q.wakeWaiter:
		case <-q.stopped:
			return
		}
	}
}

// takeDue removes from the heap every item due at now, appending it to due,
// and reports the next due time, whether any item is still waiting, and
// whether the queue shut down. Times are offsets from the queue's epoch.
func (q *queue[T]) takeDue(now time.Duration, due []T) (_ []T, next time.Duration, pending, closed bool) {
	q.delayMu.Lock()
	defer q.delayMu.Unlock()
	if q.delaysClosed {
		return due, next, false, true
	}
	for len(q.waiting) > 0 && q.waiting[0].due <= now {
		entry := q.waiting.pop()
		if at, ok := q.waitingUntil[entry.item]; ok && at == entry.due {
			delete(q.waitingUntil, entry.item)
			due = append(due, entry.item)
		}
	}
	if len(q.waiting) == 0 {
		return due, next, false, false
	}
	return due, q.waiting[0].due, true, false
}

// addAll adds items in order, under one hold of the queue lock.
func (q *queue[T]) addAll(items []T) {
	if len(items) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, item := range items {
		q.addLocked(item)
	}
}

// armTimer makes timer fire after d, creating it on first use.
func armTimer(clk clock.WithTicker, timer clock.Timer, d time.Duration) clock.Timer {
	if timer == nil {
		return clk.NewTimer(d)
	}
	stopTimer(timer)
	timer.Reset(d)
	return timer
}

// stopTimer stops timer and empties its channel. A fake clock's timer keeps
// an unread tick in its channel, and firing again onto a full channel would
// block whoever steps that clock; real timers never hold a stale tick, so the
// drain is then a no-op.
func stopTimer(timer clock.Timer) {
	if !timer.Stop() {
		select {
		case <-timer.C():
		default:
		}
	}
}

// sinceEpoch converts t+delay to an offset from the queue's epoch, the form
// in which the delay heap stores due times: 8 bytes instead of a time.Time's
// 24, compared as integers. Time.Sub uses the monotonic clock reading when
// both times have one, so a wall-clock jump does not reorder anything. The
// sum saturates instead of overflowing for delays like "never".
func (q *queue[T]) sinceEpoch(t time.Time, delay time.Duration) time.Duration {
	offset := t.Sub(q.epoch)
	if delay > 0 && offset > math.MaxInt64-delay {
		return math.MaxInt64
	}
	return offset + delay
}

// waitEntry is one AddAfter request.
type waitEntry[T any] struct {
	item T
	// due is an offset from the queue's epoch; see sinceEpoch.
	due time.Duration
}

// waitHeap is a binary min-heap of waitEntry ordered by due time: entry i is
// due no later than entries 2i+1 and 2i+2, so the earliest is at index 0.
// It stores entries by value (no allocation per request) and is written out
// by hand rather than through container/heap, whose interface{} arguments
// would allocate for every push and pop.
type waitHeap[T any] []waitEntry[T]

func (h *waitHeap[T]) push(entry waitEntry[T]) {
	*h = append(*h, entry)
	s := *h
	// Move the new entry up while it is due before its parent.
	i := len(s) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if s[i].due >= s[parent].due {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

func (h *waitHeap[T]) pop() waitEntry[T] {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = waitEntry[T]{} // drop the reference for the garbage collector
	s = s[:last]
	// Move the new root down while a child is due before it.
	i := 0
	for {
		earliest := i
		if left := 2*i + 1; left < len(s) && s[left].due < s[earliest].due {
			earliest = left
		}
		if right := 2*i + 2; right < len(s) && s[right].due < s[earliest].due {
			earliest = right
		}
		if earliest == i {
			break
		}
		s[i], s[earliest] = s[earliest], s[i]
		i = earliest
	}
	*h = s
	return top
}
