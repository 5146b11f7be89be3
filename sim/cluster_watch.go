package sim

import (
	"fmt"
	"strconv"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	clienttesting "k8s.io/client-go/testing"
)

// List and watch. The fake's own watch has a fixed buffer of 100 events and
// panics when a reader falls behind, does not see deletions made between a
// List and the Watch that follows it, and knows no field selectors. This one
// queues without bound, keeps a history so a watch resumes exactly where a
// List left off (or answers 410 Gone, like the apiserver, when that is too
// far back), and filters by label and field selectors.

// watchHistoryLimit is how many recent events are kept for resuming watches.
const watchHistoryLimit = 4096

func (c *Cluster) reactList(action clienttesting.Action) (bool, runtime.Object, error) {
	a, ok := action.(clienttesting.ListActionImpl)
	if !ok {
		return false, nil, nil
	}
	ref := objectRef{resource: a.GetResource(), namespace: a.GetNamespace()}
	filter, err := c.newWatchFilter(ref, a.ListOptions)
	if err != nil {
		return true, nil, err
	}
	list, err := c.fake.Tracker().List(ref.resource, a.GetKind(), ref.namespace)
	if err != nil {
		return true, nil, err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return true, nil, apierrors.NewInternalError(err)
	}
	var kept []runtime.Object
	for _, item := range items {
		if filter.matches(item) {
			kept = append(kept, item)
		}
	}
	if err := meta.SetList(list, kept); err != nil {
		return true, nil, apierrors.NewInternalError(err)
	}
	if lm, err := meta.ListAccessor(list); err == nil {
		lm.SetResourceVersion(strconv.FormatUint(c.resourceVersion, 10))
	}
	return true, list, nil
}

func (c *Cluster) reactWatch(action clienttesting.Action) (bool, watch.Interface, error) {
	a, ok := action.(clienttesting.WatchActionImpl)
	if !ok {
		return false, nil, nil
	}
	ref := objectRef{resource: a.GetResource(), namespace: a.GetNamespace()}
	filter, err := c.newWatchFilter(ref, a.ListOptions)
	if err != nil {
		return true, nil, err
	}
	switch rv := a.ListOptions.ResourceVersion; rv {
	case "", "0":
		// No version to resume from: the watch starts with the current state
		// as ADDED events.
		initial, err := c.listMatching(ref, a.ListOptions)
		if err != nil {
			return true, nil, err
		}
		return true, c.watches.openWithState(filter, initial), nil
	default:
		from, err := strconv.ParseUint(rv, 10, 64)
		if err != nil {
			return true, nil, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q", rv))
		}
		s, err := c.watches.openFrom(filter, from)
		return true, s, err
	}
}

// listMatching returns copies of the stored objects that opts selects.
func (c *Cluster) listMatching(ref objectRef, opts metav1.ListOptions) ([]runtime.Object, error) {
	filter, err := c.newWatchFilter(ref, opts)
	if err != nil {
		return nil, err
	}
	gvk, ok := c.kinds[ref.resource]
	if !ok {
		return nil, apierrors.NewNotFound(ref.resource.GroupResource(), "")
	}
	list, err := c.fake.Tracker().List(ref.resource, gvk, ref.namespace)
	if err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	var kept []runtime.Object
	for _, item := range items {
		if filter.matches(item) {
			kept = append(kept, item)
		}
	}
	return kept, nil
}

// watchFilter selects the objects one list or watch asks for.
type watchFilter struct {
	resource  schema.GroupVersionResource
	namespace string // empty: all namespaces
	labels    labels.Selector
	fields    fields.Selector
}

func (c *Cluster) newWatchFilter(ref objectRef, opts metav1.ListOptions) (watchFilter, error) {
	f := watchFilter{resource: ref.resource, namespace: ref.namespace, labels: labels.Everything(), fields: fields.Everything()}
	var err error
	if opts.LabelSelector != "" {
		if f.labels, err = labels.Parse(opts.LabelSelector); err != nil {
			return f, apierrors.NewBadRequest(fmt.Sprintf("invalid label selector %q: %v", opts.LabelSelector, err))
		}
	}
	if opts.FieldSelector != "" {
		if f.fields, err = fields.ParseSelector(opts.FieldSelector); err != nil {
			return f, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector %q: %v", opts.FieldSelector, err))
		}
		supported := c.selectableFields(ref.resource)
		for _, r := range f.fields.Requirements() {
			if _, ok := supported[r.Field]; !ok {
				return f, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", r.Field))
			}
		}
	}
	return f, nil
}

// selectableFields returns the field labels the resource can be selected by.
func (c *Cluster) selectableFields(gvr schema.GroupVersionResource) fields.Set {
	if gvk, ok := c.kinds[gvr]; ok {
		if obj, err := newObject(gvk); err == nil {
			return objectFields(obj)
		}
	}
	return fields.Set{"metadata.name": "", "metadata.namespace": ""}
}

func (f watchFilter) matches(obj runtime.Object) bool {
	m := objectMeta(obj)
	if f.namespace != "" && m.GetNamespace() != f.namespace {
		return false
	}
	if !f.labels.Matches(labels.Set(m.GetLabels())) {
		return false
	}
	return f.fields.Empty() || f.fields.Matches(objectFields(obj))
}

// translate turns a cluster event into what this watch sees, if anything.
// An object that starts or stops matching the selectors arrives as ADDED or
// leaves as DELETED (showing its last matching state), as with the
// apiserver's watch cache.
func (f watchFilter) translate(ev recordedEvent) (watch.Event, bool) {
	if ev.ref.resource != f.resource || (f.namespace != "" && ev.ref.namespace != f.namespace) {
		return watch.Event{}, false
	}
	matchesNow := f.matches(ev.obj)
	if ev.kind != watch.Modified {
		return watch.Event{Type: ev.kind, Object: ev.obj.DeepCopyObject()}, matchesNow
	}
	matchedBefore := f.matches(ev.old)
	switch {
	case matchedBefore && matchesNow:
		return watch.Event{Type: watch.Modified, Object: ev.obj.DeepCopyObject()}, true
	case matchesNow:
		return watch.Event{Type: watch.Added, Object: ev.obj.DeepCopyObject()}, true
	case matchedBefore:
		last := ev.old.DeepCopyObject()
		objectMeta(last).SetResourceVersion(strconv.FormatUint(ev.rv, 10))
		return watch.Event{Type: watch.Deleted, Object: last}, true
	}
	return watch.Event{}, false
}

// recordedEvent is one change of the cluster, kept for delivery and replay.
type recordedEvent struct {
	rv   uint64
	ref  objectRef
	kind watch.EventType
	// obj is the object after the change (the last state for a deletion);
	// old is the state before a modification. Both are the hub's own copies.
	obj, old runtime.Object
}

// watchHub fans cluster events out to the open watches.
type watchHub struct {
	mu      sync.Mutex
	streams map[*eventStream]struct{}
	// history holds the most recent events, oldest first.
	history []recordedEvent
	// forgottenThrough is the resourceVersion of the newest event dropped from
	// history; a watch can resume from that version or any later one.
	forgottenThrough uint64
}

func newWatchHub() *watchHub {
	return &watchHub{streams: map[*eventStream]struct{}{}}
}

// publish records a change and queues it on every watch that selects it.
func (h *watchHub) publish(rv uint64, ref objectRef, kind watch.EventType, obj, old runtime.Object) {
	ev := recordedEvent{rv: rv, ref: ref, kind: kind, obj: obj.DeepCopyObject()}
	if old != nil {
		ev.old = old.DeepCopyObject()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.history = append(h.history, ev)
	if len(h.history) > watchHistoryLimit {
		drop := len(h.history) - watchHistoryLimit/2
		h.forgottenThrough = h.history[drop-1].rv
		h.history = append([]recordedEvent(nil), h.history[drop:]...)
	}
	for s := range h.streams {
		if out, ok := s.filter.translate(ev); ok {
			s.enqueue(out)
		}
	}
}

// openWithState opens a watch that first replays objects as ADDED events.
func (h *watchHub) openWithState(filter watchFilter, objects []runtime.Object) *eventStream {
	s := newEventStream(h, filter)
	for _, obj := range objects {
		s.enqueue(watch.Event{Type: watch.Added, Object: obj})
	}
	h.mu.Lock()
	h.streams[s] = struct{}{}
	h.mu.Unlock()
	go s.pump()
	return s
}

// openFrom opens a watch that delivers every event after resourceVersion
// from, or fails with 410 Gone when those are no longer all remembered; an
// informer then lists again.
func (h *watchHub) openFrom(filter watchFilter, from uint64) (*eventStream, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if from < h.forgottenThrough {
		return nil, apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", from, h.forgottenThrough))
	}
	s := newEventStream(h, filter)
	for _, ev := range h.history {
		if ev.rv <= from {
			continue
		}
		if out, ok := filter.translate(ev); ok {
			s.enqueue(out)
		}
	}
	h.streams[s] = struct{}{}
	go s.pump()
	return s, nil
}

func (h *watchHub) forget(s *eventStream) {
	h.mu.Lock()
	delete(h.streams, s)
	h.mu.Unlock()
}

// backlog counts events queued on open watches that their readers have not
// taken yet.
func (h *watchHub) backlog() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for s := range h.streams {
		n += s.pending()
	}
	return n
}

// eventStream is one open watch. Writers queue events on its pump and
// never block.
type eventStream struct {
	hub     *watchHub
	filter  watchFilter
	out     *eventPump
	stopped chan struct{}
	stop    sync.Once
}

var _ watch.Interface = (*eventStream)(nil)

func newEventStream(h *watchHub, filter watchFilter) *eventStream {
	return &eventStream{
		hub:     h,
		filter:  filter,
		out:     newEventPump(),
		stopped: make(chan struct{}),
	}
}

func (s *eventStream) ResultChan() <-chan watch.Event { return s.out.result }

// Stop ends the watch; the result channel closes. Safe to call more than once.
func (s *eventStream) Stop() {
	s.stop.Do(func() {
		close(s.stopped)
		s.hub.forget(s)
	})
}

func (s *eventStream) enqueue(ev watch.Event) { s.out.enqueue(ev) }

func (s *eventStream) pending() int { return s.out.pending() }

func (s *eventStream) pump() { s.out.run(s.stopped) }
