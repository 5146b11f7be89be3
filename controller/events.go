package controller

import (
	"context"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// NewEventRecorder returns a recorder whose Events are signed component,
// logged at verbosity 3 and written into the API through client, and the
// broadcaster behind it, for Shutdown. Every controller of the project
// records Events this way unless its Config brings a recorder.
func NewEventRecorder(ctx context.Context, client kubernetes.Interface, component string) (record.EventRecorder, record.EventBroadcaster) {
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartStructuredLogging(3)
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	return broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: component}), broadcaster
}
