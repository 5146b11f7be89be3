package sim

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/tools/reference"
	"k8s.io/klog/v2"
)

// NewEventRecorder returns an event recorder for a controller running on
// this cluster. It writes each event into the cluster at once, stamped with
// the cluster's clock, so an event is there as soon as the controller's sync
// returns and a simulation can list it (core/v1 Events, filterable by
// involvedObject fields).
//
// A client-go EventBroadcaster also works here, with
// broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface:
// cluster.Client().CoreV1().Events("")}), but it stamps events with the wall
// clock and writes them from a goroutine of its own, later.
//
// Like the broadcaster, the recorder counts repeats: an event that is the same
// as an earlier one (same object, type, reason and message) raises that
// event's count and lastTimestamp instead of making a new one. It does not
// merge merely similar events or drop bursts, as the broadcaster's
// correlator does.
func (c *Cluster) NewEventRecorder(component string) record.EventRecorderLogger {
	return &eventRecorder{
		cluster:   c,
		component: component,
		logger:    klog.Background(),
		seen:      &seenEvents{names: map[eventKey]string{}},
	}
}

type eventRecorder struct {
	cluster   *Cluster
	component string
	logger    klog.Logger
	// seen is shared by the copies WithLogger makes.
	seen *seenEvents
}

// seenEvents remembers the name of each distinct event written, to count
// repeats. Its lock also serialises the writes, so two workers reporting the
// same event cannot both create it.
type seenEvents struct {
	mu    sync.Mutex
	names map[eventKey]string
}

type eventKey struct {
	uid                                    types.UID
	namespace, name, kind                  string
	eventType, reason, message, annotation string
}

var _ record.EventRecorderLogger = (*eventRecorder)(nil)

func (r *eventRecorder) Event(object runtime.Object, eventType, reason, message string) {
	r.record(object, nil, eventType, reason, message)
}

func (r *eventRecorder) Eventf(object runtime.Object, eventType, reason, messageFmt string, args ...any) {
	r.record(object, nil, eventType, reason, fmt.Sprintf(messageFmt, args...))
}

func (r *eventRecorder) AnnotatedEventf(object runtime.Object, annotations map[string]string, eventType, reason, messageFmt string, args ...any) {
	r.record(object, annotations, eventType, reason, fmt.Sprintf(messageFmt, args...))
}

func (r *eventRecorder) WithLogger(logger klog.Logger) record.EventRecorderLogger {
	copied := *r
	copied.logger = logger
	return &copied
}

func (r *eventRecorder) record(object runtime.Object, annotations map[string]string, eventType, reason, message string) {
	ref, err := reference.GetReference(scheme.Scheme, object)
	if err != nil {
		r.logger.Error(err, "Could not make a reference to the object, event dropped", "reason", reason, "message", message)
		return
	}
	if eventType != corev1.EventTypeNormal && eventType != corev1.EventTypeWarning {
		r.logger.Error(nil, "Unsupported event type, event dropped", "eventType", eventType, "reason", reason)
		return
	}
	namespace := ref.Namespace
	if namespace == "" {
		namespace = metav1.NamespaceDefault
	}
	key := eventKey{uid: ref.UID, namespace: ref.Namespace, name: ref.Name, kind: ref.Kind,
		eventType: eventType, reason: reason, message: message, annotation: fmt.Sprint(annotations)}
	now := r.cluster.now()
	events := r.cluster.Client().CoreV1().Events(namespace)
	ctx := context.Background()

	r.seen.mu.Lock()
	defer r.seen.mu.Unlock()
	if name, ok := r.seen.names[key]; ok {
		if ev, err := events.Get(ctx, name, metav1.GetOptions{}); err == nil {
			ev.Count++
			ev.LastTimestamp = now
			if _, err := events.Update(ctx, ev, metav1.UpdateOptions{}); err == nil {
				return
			}
		}
	}
	ev := &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Namespace: namespace, Annotations: annotations},
		InvolvedObject:      *ref,
		Reason:              reason,
		Message:             message,
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		Type:                eventType,
		Source:              corev1.EventSource{Component: r.component},
		ReportingController: r.component,
	}
	// Named like the broadcaster names them, object name and time; events in
	// the same virtual nanosecond take the next free one.
	stamp := r.cluster.clock.Now().UnixNano()
	for attempt := int64(0); attempt < 1000; attempt++ {
		ev.Name = fmt.Sprintf("%s.%x", ref.Name, stamp+attempt)
		created, err := events.Create(ctx, ev, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			continue
		}
		if err != nil {
			r.logger.Error(err, "Could not write event", "reason", reason, "object", klog.KRef(ref.Namespace, ref.Name))
			return
		}
		r.seen.names[key] = created.Name
		return
	}
	r.logger.Error(nil, "No free event name, event dropped", "reason", reason, "object", klog.KRef(ref.Namespace, ref.Name))
}
