package workqueue

import (
	"sync"
	"time"

	clientworkqueue "k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// itemState says where an item the queue knows about currently is. An item
// with no entry in queue.states is idle: nobody needs it processed and no
// worker holds it. (It may still be waiting in the delay heap; see waiting.)
type itemState uint8

const (
	// stateDirty: the item needs a fresh run. If no worker holds it, it sits
	// in the ready FIFO; if a worker holds it, Done puts it in the FIFO.
	stateDirty itemState = 1 << iota
	// stateProcessing: a worker got the item from Get and has not yet called
	// Done.
	stateProcessing
)

// queue is this package's rate-limited work queue. One struct holds the three
// layers that client-go builds as wrappers (plain queue, delaying queue, rate
// limiting queue), so Add, Get and Done each take one lock and touch one map.
// The delay heap has a lock of its own, so timing work never holds up workers.
//
// The four places an item can be, and which may overlap:
//
//	ready      in the FIFO, to be handed out by Get       (state == dirty)
//	dirty      needs a run, ready or not                  (state has dirty)
//	processing held by a worker between Get and Done      (state has processing)
//	waiting    in the delay heap, to be Added later       (independent)
//
//	  - ready implies dirty and never processing: one item is never handed
//	    to two workers at once, so an item re-added while held waits for Done.
//	  - an item appears in the FIFO at most once: Add of a dirty item is a
//	    no-op, which is the deduplication.
//	  - waiting overlaps anything: it is only a promise to call Add later,
//	    and that Add follows the rules above when it happens.
//
// What shutdown does (ShutDown and ShutDownWithDrain both start it):
//
//	Add, AddAfter, AddRateLimited  ignored
//	Get                            still hands out ready items; once the
//	                               FIFO is empty it returns shutdown=true
//	                               instead of blocking
//	Done                           works as before, including re-queueing
//	                               an item that was re-added before shutdown
//	waiting items                  dropped; their time never comes
//	Len, ShuttingDown, Forget,     work as before
//	NumRequeues
type queue[T comparable] struct {
	// The fields up to mu are set at creation and never change.

	clock   clock.WithTicker
	limiter clientworkqueue.TypedRateLimiter[T]
	// metrics is nil when metrics are off; every hook is a nil check then.
	metrics *queueMetrics[T]
	// epoch is the clock reading at creation; due times are stored as
	// offsets from it (see sinceEpoch).
	epoch time.Time
	// wakeWaiter (capacity 1) tells the waiter goroutine that the earliest
	// due time changed. A pending signal already says everything, so senders
	// never block.
	wakeWaiter chan struct{}
	// stopped is closed when shutdown starts; background goroutines exit.
	stopped chan struct{}
	// background counts running background goroutines; shutdown waits for
	// them so none outlives the queue.
	background sync.WaitGroup

	// mu guards the fields from here to delayMu.
	mu sync.Mutex
	// itemsReady wakes a Get that waits for an item or for shutdown.
	itemsReady sync.Cond
	// noneProcessing wakes ShutDownWithDrain when the last held item is Done,
	// or when ShutDown cancels the drain.
	noneProcessing sync.Cond

	// ready holds, in arrival order, exactly the items whose state is
	// stateDirty alone. Get takes from its front.
	ready fifo[T]
	// states has an entry for every item that is dirty or processing (or
	// both) and for no other item, so it never grows beyond the live work.
	states map[T]itemState
	// processing counts items whose state has stateProcessing: the number
	// of workers between Get and Done.
	processing int

	// shuttingDown is set once by ShutDown or ShutDownWithDrain, never cleared.
	shuttingDown bool
	// draining is true while ShutDownWithDrain waits for processing to reach
	// zero; ShutDown clears it to make that wait give up.
	draining bool

	// delayMu guards the fields below it. It is separate from mu so that
	// heap work (AddAfter pushing, the waiter popping) never makes Get and
	// Done wait. Lock order: mu before delayMu; nothing holding delayMu may
	// take mu.
	delayMu sync.Mutex
	// delaysClosed is set with shuttingDown; AddAfter checks it under delayMu.
	delaysClosed bool
	// waiting holds AddAfter requests ordered by due time, earliest first.
	// It may contain stale entries: see waitingUntil.
	waiting waitHeap[T]
	// waitingUntil maps each waiting item to the due time of its live heap
	// entry. A heap entry whose time differs is stale (a later request that
	// an earlier one replaced) and is skipped when it reaches the top.
	waitingUntil map[T]time.Duration
	// waiterStarted records that the goroutine that moves due items into the
	// FIFO is running. It starts on the first AddAfter, so a queue that never
	// delays anything runs no goroutine and holds no timer.
	waiterStarted bool
}

// newQueue builds our queue. A nil clock means the real clock.
func newQueue[T comparable](limiter clientworkqueue.TypedRateLimiter[T], opts Options) *queue[T] {
	clk := opts.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	q := &queue[T]{
		clock:        clk,
		limiter:      limiter,
		metrics:      newQueueMetrics[T](opts.MetricsProvider, opts.Name, clk),
		states:       make(map[T]itemState),
		epoch:        clk.Now(),
		waitingUntil: make(map[T]time.Duration),
		wakeWaiter:   make(chan struct{}, 1),
		stopped:      make(chan struct{}),
	}
	q.itemsReady.L = &q.mu
	q.noneProcessing.L = &q.mu
	if q.metrics != nil {
		q.background.Add(1)
		go q.reportUnfinishedWork()
	}
	return q
}

// Add marks item as needing a run. If the item is already dirty it does
// nothing (deduplication); if a worker holds it, the run starts after Done.
// Ignored after shutdown.
func (q *queue[T]) Add(item T) {
	q.mu.Lock()
	q.addLocked(item)
	q.mu.Unlock()
}

func (q *queue[T]) addLocked(item T) {
	if q.shuttingDown {
		return
	}
	state := q.states[item]
	if state&stateDirty != 0 {
		return
	}
	q.states[item] = state | stateDirty
	q.metrics.added(item)
	if state&stateProcessing != 0 {
		// Handing it out now would give one item to two workers. Done
		// queues it instead.
		return
	}
	q.ready.push(item)
	q.itemsReady.Signal()
}

// Len is the number of ready items: not those held by workers, not those
// waiting for their delay. It is a snapshot for logs and metrics; by the time
// the caller looks at it, it may have changed.
func (q *queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.ready.len()
}

// Get blocks until an item is ready or the queue shuts down. It returns
// shutdown=true only when the queue is shutting down and nothing is ready.
// The caller owns the item until it calls Done.
func (q *queue[T]) Get() (item T, shutdown bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.ready.len() == 0 && !q.shuttingDown {
		q.itemsReady.Wait()
	}
	if q.ready.len() == 0 {
		return item, true
	}
	item = q.ready.pop()
	// A ready item is dirty and not processing; taking it clears dirty, so
	// an Add from now on is remembered for after this run.
	q.states[item] = stateProcessing
	q.processing++
	q.metrics.started(item)
	return item, false
}

// Done ends the run of an item that Get handed out. If the item was added
// again during the run, it becomes ready now. Done for an item no worker
// holds is ignored.
func (q *queue[T]) Done(item T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	state := q.states[item]
	if state&stateProcessing == 0 {
		return
	}
	q.processing--
	q.metrics.finished(item)
	if state&stateDirty != 0 {
		q.states[item] = stateDirty
		q.ready.push(item)
		q.itemsReady.Signal()
	} else {
		delete(q.states, item)
	}
	if q.processing == 0 && q.draining {
		q.noneProcessing.Broadcast()
	}
}

// ShutDown stops the queue from accepting work. Workers keep getting the
// items already ready; then Get reports shutdown. It does not wait for
// workers, but it does wait for the queue's own goroutines to exit. Calling
// it again is harmless; calling it during ShutDownWithDrain ends that wait.
func (q *queue[T]) ShutDown() {
	q.mu.Lock()
	q.beginShutdownLocked()
	q.draining = false
	q.noneProcessing.Broadcast()
	q.mu.Unlock()
	q.background.Wait()
}

// ShutDownWithDrain is ShutDown that also waits until every item held by a
// worker is Done. A worker that never calls Done makes it wait forever
// (unless ShutDown is called). Items still ready are not waited for: without
// workers nobody would take them.
func (q *queue[T]) ShutDownWithDrain() {
	q.mu.Lock()
	q.beginShutdownLocked()
	q.draining = true
	for q.processing > 0 && q.draining {
		q.noneProcessing.Wait()
	}
	q.mu.Unlock()
	q.background.Wait()
}

// beginShutdownLocked does the part of shutdown that happens once.
func (q *queue[T]) beginShutdownLocked() {
	if q.shuttingDown {
		return
	}
	q.shuttingDown = true
	close(q.stopped)
	q.delayMu.Lock()
	q.delaysClosed = true
	// Release the delayed items; no one will ever Add them.
	q.waiting = nil
	clear(q.waitingUntil)
	q.delayMu.Unlock()
	// Wake every blocked Get: each either takes a ready item or learns of
	// the shutdown.
	q.itemsReady.Broadcast()
}

// ShuttingDown reports whether ShutDown or ShutDownWithDrain was called.
func (q *queue[T]) ShuttingDown() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.shuttingDown
}
