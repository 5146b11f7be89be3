package workqueue

import (
	"fmt"

	clientworkqueue "k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// AddRateLimited adds item after the delay the rate limiter asks for. The
// limiter counts this as one more failure of the item, so repeated calls
// back off further until Forget. After shutdown the item is not added, but
// the limiter still counts the failure, as client-go's queue does.
func (q *queue[T]) AddRateLimited(item T) {
	q.AddAfter(item, q.limiter.When(item))
}

// Forget tells the rate limiter the item succeeded (or was given up on), so
// its next AddRateLimited starts from the shortest delay again. It does not
// take the item out of the queue; the worker still calls Done.
func (q *queue[T]) Forget(item T) {
	q.limiter.Forget(item)
}

// NumRequeues is how many times the limiter has delayed the item since it
// was last forgotten.
func (q *queue[T]) NumRequeues(item T) int {
	return q.limiter.NumRequeues(item)
}

// Implementation names a queue implementation NewRateLimiting can build.
type Implementation string

const (
	// ImplementationKjob is this package's queue, the default.
	ImplementationKjob Implementation = "kjob"
	// ImplementationClientGo is client-go's workqueue, for comparison.
	ImplementationClientGo Implementation = "client-go"
)

// Implementations lists every accepted Implementation, default first.
func Implementations() []Implementation {
	return []Implementation{ImplementationKjob, ImplementationClientGo}
}

// ParseImplementation checks a name given on a command line or in a file.
// The empty string means the default.
func ParseImplementation(name string) (Implementation, error) {
	switch impl := Implementation(name); impl {
	case "":
		return ImplementationKjob, nil
	case ImplementationKjob, ImplementationClientGo:
		return impl, nil
	default:
		return "", fmt.Errorf("workqueue implementation %q: unknown, want %q or %q",
			name, ImplementationKjob, ImplementationClientGo)
	}
}

// String returns the name, so Implementation is a flag.Value.
func (i *Implementation) String() string { return string(*i) }

// Set parses name into i, so a flag rejects unknown implementations.
func (i *Implementation) Set(name string) error {
	impl, err := ParseImplementation(name)
	if err != nil {
		return err
	}
	*i = impl
	return nil
}

// MetricsProvider creates the queue's metrics. It is client-go's interface,
// so one provider (for example a Prometheus adapter) serves both
// implementations under the same metric names.
type MetricsProvider = clientworkqueue.MetricsProvider

// Options configures NewRateLimiting. The zero value is a working queue on
// the real clock, without metrics, using ImplementationKjob.
type Options struct {
	// Name labels the queue's metrics. Metrics are recorded only when both
	// Name and MetricsProvider are set (client-go's rule too).
	Name string
	// Clock drives delays and metric timings; nil means the real clock.
	Clock clock.WithTicker
	// Implementation picks the queue; empty means ImplementationKjob.
	Implementation Implementation
	// MetricsProvider receives the metrics; nil means none. (client-go's
	// queue then falls back to its process-wide provider, which records
	// nothing unless someone installed one with workqueue.SetProvider.)
	MetricsProvider MetricsProvider
}

// NewRateLimiting builds a rate-limited work queue with the implementation
// opts names. Both implementations satisfy the same contract, checked by the
// same tests, so callers may switch freely. An unknown Implementation is
// reported in the log and replaced by the default; use ParseImplementation
// to reject it earlier. A nil limiter means DefaultControllerRateLimiter on
// opts.Clock, rather than a queue whose AddRateLimited would crash.
func NewRateLimiting[T comparable](limiter clientworkqueue.TypedRateLimiter[T], opts Options) clientworkqueue.TypedRateLimitingInterface[T] {
	if limiter == nil {
		var clk clock.PassiveClock = clock.RealClock{}
		if opts.Clock != nil {
			clk = opts.Clock
		}
		limiter = DefaultControllerRateLimiterWithClock[T](clk)
	}
	switch opts.Implementation {
	case ImplementationClientGo:
		return clientworkqueue.NewTypedRateLimitingQueueWithConfig(limiter, clientworkqueue.TypedRateLimitingQueueConfig[T]{
			Name:            opts.Name,
			MetricsProvider: opts.MetricsProvider,
			Clock:           opts.Clock,
		})
	case "", ImplementationKjob:
	default:
		klog.Background().Error(nil, "Unknown workqueue implementation, using the default",
			"queue", opts.Name, "implementation", opts.Implementation, "default", ImplementationKjob)
	}
	return newQueue(limiter, opts)
}
