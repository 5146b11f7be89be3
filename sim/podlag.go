package sim

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
)

// PodWatchLag makes one client's view of pods fall behind the cluster, the
// way an informer cache goes stale: a slow watch, an apiserver watch cache
// that lags, or a controller that restarts and lists before a write shows.
// Pod events that match a rule reach that client's watches late; pods that
// match leave its lists and arrive later, on the watch, as ADDED events.
// Writes, and every other client, see the cluster as it is.
//
// Delays run on the virtual clock, so a Runner moves time to the end of a
// delay as to any other deadline. Add Idle to the Runner's Idle functions
// so that it also waits for released events to be taken.
type PodWatchLag struct {
	clock *VirtualClock

	mu    sync.Mutex
	rules []lagRule
	// hidden holds pods left out of a List, for the next watch to deliver.
	hidden []heldEvent
	// seq numbers events in arrival order, the tie-break between events
	// released at the same instant.
	seq     uint64
	streams map[*lagStream]struct{}
}

type lagRule struct {
	match func(watch.EventType, *corev1.Pod) bool
	delay time.Duration
}

// heldEvent is an event that waits for its due time.
type heldEvent struct {
	uid types.UID
	due time.Time
	seq uint64
	ev  watch.Event
}

// NewPodWatchLag returns a lag with no rules: until Delay is called, its
// clients see pods exactly as the cluster has them.
func NewPodWatchLag(clk *VirtualClock) *PodWatchLag {
	return &PodWatchLag{clock: clk, streams: map[*lagStream]struct{}{}}
}

// Delay holds back by d, from now on, each pod watch event for which match
// is true, and leaves out of each pod List the pods for which
// match(watch.Added, pod) is true; the next watch delivers those as ADDED
// events d after the List. An event never overtakes an earlier event of
// the same pod, so an event that matches no rule may wait too.
func (l *PodWatchLag) Delay(match func(watch.EventType, *corev1.Pod) bool, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rules = append(l.rules, lagRule{match: match, delay: d})
}

// Client returns client with its pod lists and watches passing through the
// lag; everything else goes straight to client.
func (l *PodWatchLag) Client(client kubernetes.Interface) kubernetes.Interface {
	return &lagClient{Interface: client, lag: l}
}

// Idle reports that every event due by now has been taken by its reader.
func (l *PodWatchLag) Idle() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	for s := range l.streams {
		if s.out.pending() > 0 {
			return false
		}
		for _, h := range s.held {
			if !h.due.After(now) {
				return false // its release callback has not run yet
			}
		}
	}
	return true
}

// dueLocked is when an event that arrives now may be delivered, before
// taking the order of one pod's events into account.
func (l *PodWatchLag) dueLocked(typ watch.EventType, pod *corev1.Pod, now time.Time) time.Time {
	due := now
	for _, r := range l.rules {
		if r.match(typ, pod) {
			due = maxTime(due, now.Add(r.delay))
		}
	}
	return due
}

func (l *PodWatchLag) list(ctx context.Context, pods typedcorev1.PodInterface, opts metav1.ListOptions) (*corev1.PodList, error) {
	list, err := pods.List(ctx, opts)
	if err != nil {
		return list, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	kept := list.Items[:0]
	for i := range list.Items {
		pod := &list.Items[i]
		due := l.dueLocked(watch.Added, pod, now)
		if !due.After(now) {
			kept = append(kept, *pod)
			continue
		}
		l.seq++
		l.hidden = append(l.hidden, heldEvent{uid: pod.UID, due: due, seq: l.seq,
			ev: watch.Event{Type: watch.Added, Object: pod.DeepCopy()}})
	}
	list.Items = kept
	return list, nil
}

func (l *PodWatchLag) watch(ctx context.Context, pods typedcorev1.PodInterface, opts metav1.ListOptions) (watch.Interface, error) {
	inner, err := pods.Watch(ctx, opts)
	if err != nil {
		return nil, err
	}
	s := &lagStream{lag: l, inner: inner, out: newEventPump(), done: make(chan struct{})}
	l.mu.Lock()
	l.streams[s] = struct{}{}
	s.held, l.hidden = l.hidden, nil
	now := l.clock.Now()
	for _, h := range s.held {
		l.clock.AfterFunc(h.due.Sub(now), s.release)
	}
	l.mu.Unlock()
	go s.receive()
	go s.out.run(s.done)
	return s, nil
}

// lagStream is one watch seen through the lag.
type lagStream struct {
	lag   *PodWatchLag
	inner watch.Interface
	// out delivers the events that are due.
	out  *eventPump
	done chan struct{}
	stop sync.Once

	// held waits for its due times, in arrival order; the events of one
	// pod have non-decreasing due times. Guarded by lag.mu.
	held []heldEvent
}

var _ watch.Interface = (*lagStream)(nil)

func (s *lagStream) ResultChan() <-chan watch.Event { return s.out.result }

func (s *lagStream) Stop() {
	s.stop.Do(func() {
		close(s.done)
		s.inner.Stop()
		s.lag.mu.Lock()
		delete(s.lag.streams, s)
		s.lag.mu.Unlock()
	})
}

// receive takes the cluster's events and decides, for each, whether it
// waits.
func (s *lagStream) receive() {
	defer s.Stop()
	for ev := range s.inner.ResultChan() {
		s.admit(ev)
	}
}

func (s *lagStream) admit(ev watch.Event) {
	l := s.lag
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	s.releaseDueLocked(now)
	pod, ok := ev.Object.(*corev1.Pod)
	if !ok {
		// Errors and bookmarks concern the stream, not one pod.
		s.out.enqueue(ev)
		return
	}
	due := l.dueLocked(ev.Type, pod, now)
	for _, h := range s.held {
		if h.uid == pod.UID {
			due = maxTime(due, h.due)
		}
	}
	if !due.After(now) {
		s.out.enqueue(ev)
		return
	}
	l.seq++
	s.held = append(s.held, heldEvent{uid: pod.UID, due: due, seq: l.seq, ev: ev})
	l.clock.AfterFunc(due.Sub(now), s.release)
}

// release runs on the clock when a held event falls due.
func (s *lagStream) release() {
	s.lag.mu.Lock()
	defer s.lag.mu.Unlock()
	s.releaseDueLocked(s.lag.clock.Now())
}

// releaseDueLocked moves the events due by now to ready, earliest due
// first and in arrival order among equals, which keeps each pod's order.
func (s *lagStream) releaseDueLocked(now time.Time) {
	var due, later []heldEvent
	for _, h := range s.held {
		if h.due.After(now) {
			later = append(later, h)
		} else {
			due = append(due, h)
		}
	}
	if len(due) == 0 {
		return
	}
	slices.SortFunc(due, func(a, b heldEvent) int {
		if c := a.due.Compare(b.due); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	s.held = later
	for _, h := range due {
		s.out.enqueue(h.ev)
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// lagClient, lagCoreV1 and lagPods route pod lists and watches through the
// lag and leave every other call to the wrapped client.
type lagClient struct {
	kubernetes.Interface
	lag *PodWatchLag
}

func (c *lagClient) CoreV1() typedcorev1.CoreV1Interface {
	return &lagCoreV1{CoreV1Interface: c.Interface.CoreV1(), lag: c.lag}
}

// IsWatchListSemanticsUnSupported keeps informers on List and Watch, the
// two calls the lag knows how to delay.
func (c *lagClient) IsWatchListSemanticsUnSupported() bool { return true }

type lagCoreV1 struct {
	typedcorev1.CoreV1Interface
	lag *PodWatchLag
}

func (c *lagCoreV1) Pods(namespace string) typedcorev1.PodInterface {
	return &lagPods{PodInterface: c.CoreV1Interface.Pods(namespace), lag: c.lag}
}

type lagPods struct {
	typedcorev1.PodInterface
	lag *PodWatchLag
}

func (p *lagPods) List(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error) {
	return p.lag.list(ctx, p.PodInterface, opts)
}

func (p *lagPods) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return p.lag.watch(ctx, p.PodInterface, opts)
}
