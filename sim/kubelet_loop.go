package sim

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// The kubelet loop: one goroutine runs every piece of pod work, taken from
// two sources. Work posted by other goroutines (informer events, exits of
// exec processes) runs in the order posted; work scheduled on the clock
// (start delays, restarts, scripted exits) runs when due, earliest first,
// ties in the order scheduled. Only one clock timer exists at a time, armed
// for the earliest deadline, so a virtual clock sees exactly when the
// kubelet next needs to wake up.

// deadline is work due at a time.
type deadline struct {
	at  time.Time
	seq uint64
	fn  func()
	// index is the position in the heap, -1 once removed.
	index int
}

// deadlineHeap orders deadlines by time, then by creation.
type deadlineHeap []*deadline

func (h deadlineHeap) Len() int { return len(h) }
func (h deadlineHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *deadlineHeap) Push(x any) {
	d := x.(*deadline)
	d.index = len(*h)
	*h = append(*h, d)
}
func (h *deadlineHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	d.index = -1
	return d
}

// post queues fn to run on the loop. Safe from any goroutine.
func (k *Kubelet) post(fn func()) {
	k.mu.Lock()
	k.queue = append(k.queue, fn)
	k.mu.Unlock()
	k.nudge()
}

func (k *Kubelet) nudge() {
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// after schedules fn on the loop once d has passed on the kubelet's clock
// and returns a function that cancels it. Loop-only.
func (k *Kubelet) after(d time.Duration, fn func()) (cancel func()) {
	k.mu.Lock()
	k.deadlineSeq++
	dl := &deadline{at: k.clock.Now().Add(d), seq: k.deadlineSeq, fn: fn}
	heap.Push(&k.deadlines, dl)
	k.mu.Unlock()
	return func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		if dl.index >= 0 {
			heap.Remove(&k.deadlines, dl.index)
		}
	}
}

// loop runs work until ctx ends.
func (k *Kubelet) loop(ctx context.Context) {
	defer k.stopTimer()
	for {
		batch, timerC := k.takeWork()
		if len(batch) > 0 {
			for _, fn := range batch {
				fn()
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-k.wake:
		case <-timerC:
			k.mu.Lock()
			k.timer, k.timerAt = nil, time.Time{}
			k.mu.Unlock()
		}
	}
}

// takeWork takes everything that can run now. When nothing can, it makes
// sure the timer is armed for the next deadline and returns its channel
// (nil when there is no deadline at all). Arming happens under k.mu, so an
// Idle caller never sees the kubelet idle before its wake-up is registered.
func (k *Kubelet) takeWork() ([]func(), <-chan time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.clock.Now()
	batch := k.queue
	k.queue = nil
	for len(k.deadlines) > 0 && !k.deadlines[0].at.After(now) {
		batch = append(batch, heap.Pop(&k.deadlines).(*deadline).fn)
	}
	k.busy = len(batch) > 0
	if k.busy {
		return batch, nil
	}
	if len(k.deadlines) == 0 {
		k.stopTimerLocked()
		return nil, nil
	}
	next := k.deadlines[0].at
	if k.timer == nil || !k.timerAt.Equal(next) {
		k.stopTimerLocked()
		k.timer, k.timerAt = k.clock.NewTimer(next.Sub(now)), next
	}
	return nil, k.timer.C()
}

func (k *Kubelet) stopTimer() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopTimerLocked()
}

func (k *Kubelet) stopTimerLocked() {
	if k.timer != nil {
		k.timer.Stop()
	}
	k.timer, k.timerAt = nil, time.Time{}
}

// attemptHost is the Host of one container attempt.
type attemptHost struct {
	k   *Kubelet
	ctx context.Context
	pod *simPod
	// log is where output lines go; fixed at start, so the exec runtime's
	// reader goroutine never touches loop-owned state.
	log podLogSink
	// container is the index in pod.containers; id tells this attempt from
	// later ones of the same container.
	container int
	id        uint64

	mu sync.Mutex
	// held while the attempt counts in k.holds; exited after Exited.
	held, exited bool
}

func (h *attemptHost) Now() time.Time { return h.k.clock.Now() }

func (h *attemptHost) After(d time.Duration, fn func()) func() { return h.k.after(d, fn) }

func (h *attemptHost) Hold() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held || h.exited {
		return
	}
	h.held = true
	h.k.mu.Lock()
	h.k.holds++
	h.k.mu.Unlock()
}

// Exited posts the exit and releases the hold in one step, so the kubelet
// is never idle in between.
func (h *attemptHost) Exited(status ExitStatus) {
	h.mu.Lock()
	if h.exited {
		h.mu.Unlock()
		return
	}
	h.exited = true
	held := h.held
	h.held = false
	h.mu.Unlock()

	k := h.k
	k.mu.Lock()
	k.queue = append(k.queue, func() { k.containerExited(h.ctx, h.pod, h.container, h.id, status) })
	if held {
		k.holds--
	}
	k.mu.Unlock()
	k.nudge()
}

func (h *attemptHost) Log(line string) { h.log.add(line) }
