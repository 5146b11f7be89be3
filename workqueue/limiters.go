package workqueue

import (
	"math"
	"sync"
	"time"

	clientworkqueue "k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// The limiters below satisfy client-go's TypedRateLimiter, so each works with
// either queue implementation, and client-go's limiters work with ours. A
// limiter answers three questions about an item:
//
//	When         how long to wait before the next try; counts a failure
//	Forget       the item succeeded: start over from the shortest wait
//	NumRequeues  failures counted since the last Forget

// The defaults of DefaultControllerRateLimiter, the same as client-go's.
const (
	defaultItemBaseDelay = 5 * time.Millisecond
	defaultItemMaxDelay  = 1000 * time.Second
	defaultOverallQPS    = 10
	defaultOverallBurst  = 100
)

// DefaultControllerRateLimiter is client-go's default for controllers: each
// item backs off exponentially from 5ms to 1000s, and all items together are
// held to 10 per second with bursts of 100. The delay is the larger of the
// two. The token bucket reads the real clock.
func DefaultControllerRateLimiter[T comparable]() clientworkqueue.TypedRateLimiter[T] {
	return DefaultControllerRateLimiterWithClock[T](clock.RealClock{})
}

// DefaultControllerRateLimiterWithClock is DefaultControllerRateLimiter with
// the token bucket on clk, for tests and simulations on virtual time.
func DefaultControllerRateLimiterWithClock[T comparable](clk clock.PassiveClock) clientworkqueue.TypedRateLimiter[T] {
	return NewMaxOfRateLimiter(
		NewItemExponentialFailureRateLimiter[T](defaultItemBaseDelay, defaultItemMaxDelay),
		NewBucketRateLimiter[T](defaultOverallQPS, defaultOverallBurst, clk),
	)
}

// itemExponentialLimiter delays the n-th consecutive failure of an item
// (counting from 0) by base·2ⁿ, never more than limit. Items back off
// independently: one failing item does not slow the others.
type itemExponentialLimiter[T comparable] struct {
	base, limit time.Duration

	mu sync.Mutex
	// failures counts When calls per item since its last Forget. Forget
	// deletes the entry, so only items currently failing take memory.
	failures map[T]int
}

// NewItemExponentialFailureRateLimiter returns a limiter whose delays for one
// item run base, 2·base, 4·base, … up to max, and start again at base after
// Forget. A non-positive base means no delay.
func NewItemExponentialFailureRateLimiter[T comparable](base, max time.Duration) clientworkqueue.TypedRateLimiter[T] {
	return &itemExponentialLimiter[T]{base: base, limit: max, failures: make(map[T]int)}
}

func (l *itemExponentialLimiter[T]) When(item T) time.Duration {
	l.mu.Lock()
	failures := l.failures[item]
	l.failures[item] = failures + 1
	l.mu.Unlock()
	return exponentialDelay(l.base, l.limit, failures)
}

func (l *itemExponentialLimiter[T]) NumRequeues(item T) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failures[item]
}

func (l *itemExponentialLimiter[T]) Forget(item T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, item)
}

// exponentialDelay is min(base·2ⁿ, limit) without overflow. Doubling base n
// times overflows int64 long before n is large, so instead compare base with
// limit halved n times: base·2ⁿ > limit exactly when base > limit/2ⁿ
// (rounded down), and shifting limit right never overflows.
func exponentialDelay(base, limit time.Duration, n int) time.Duration {
	if base <= 0 {
		return 0
	}
	// Past 62 doublings even 1ns exceeds the largest Duration.
	if n > 62 || base > limit>>n {
		return limit
	}
	return base << n
}

// bucketLimiter is a token bucket shared by all items: it holds up to burst
// tokens, gains qps tokens per second, and each When takes one. When there is
// no token, When still takes one (the balance goes negative) and returns how
// long until the balance is back to zero; so callers are spread out at qps
// however many arrive at once. This is how golang.org/x/time/rate's
// reservations behave, which client-go's bucket limiter uses, but driven by
// an injectable clock.
type bucketLimiter[T comparable] struct {
	clock clock.PassiveClock
	qps   float64
	burst float64

	mu sync.Mutex
	// tokens is the balance at time updated: at most burst, negative when
	// callers have been promised tokens that have not accrued yet.
	tokens  float64
	updated time.Time
}

// neverDelay stands in for "this bucket can never grant a token": the longest
// Duration, which no queue will ever reach.
const neverDelay = time.Duration(math.MaxInt64)

// NewBucketRateLimiter returns a token bucket limiter for all items together:
// bursts of up to burst, then qps per second, timed by clk (nil means the
// real clock). A bucket with qps <= 0 never refills, and one with burst < 1
// never holds a whole token; once they cannot grant a token they return the
// longest possible delay, as client-go's bucket does.
func NewBucketRateLimiter[T comparable](qps float64, burst int, clk clock.PassiveClock) clientworkqueue.TypedRateLimiter[T] {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &bucketLimiter[T]{
		clock:   clk,
		qps:     qps,
		burst:   float64(burst),
		tokens:  float64(burst),
		updated: clk.Now(),
	}
}

func (l *bucketLimiter[T]) When(T) time.Duration {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.burst < 1 {
		return neverDelay
	}
	// The conversions between time and tokens below are written in the same
	// order of floating-point operations as golang.org/x/time/rate, so that
	// the two buckets agree to the nanosecond, rounding included.
	if elapsed := now.Sub(l.updated); elapsed > 0 && l.qps > 0 {
		l.tokens = min(l.burst, l.tokens+elapsed.Seconds()*l.qps)
	}
	// A clock that went backwards only restarts accrual from the new time.
	l.updated = now
	if l.tokens >= 1 {
		l.tokens--
		return 0
	}
	if l.qps <= 0 {
		// Nothing will ever accrue; promising a token would be a lie.
		return neverDelay
	}
	l.tokens--
	wait := (-l.tokens / l.qps) * float64(time.Second)
	if wait > float64(neverDelay) {
		return neverDelay
	}
	return time.Duration(wait)
}

// NumRequeues is always 0: the bucket does not track items.
func (l *bucketLimiter[T]) NumRequeues(T) int { return 0 }

// Forget does nothing: the bucket does not track items.
func (l *bucketLimiter[T]) Forget(T) {}

// maxOfLimiter combines limiters by waiting for the slowest of them: each
// one's rule holds, whichever is stricter at the moment.
type maxOfLimiter[T comparable] struct {
	limiters []clientworkqueue.TypedRateLimiter[T]
}

// NewMaxOfRateLimiter returns a limiter whose delay is the longest of the
// given limiters' delays. Every limiter sees every call, so each keeps its
// own count.
func NewMaxOfRateLimiter[T comparable](limiters ...clientworkqueue.TypedRateLimiter[T]) clientworkqueue.TypedRateLimiter[T] {
	return &maxOfLimiter[T]{limiters: limiters}
}

func (l *maxOfLimiter[T]) When(item T) time.Duration {
	var longest time.Duration
	for _, limiter := range l.limiters {
		longest = max(longest, limiter.When(item))
	}
	return longest
}

func (l *maxOfLimiter[T]) NumRequeues(item T) int {
	var most int
	for _, limiter := range l.limiters {
		most = max(most, limiter.NumRequeues(item))
	}
	return most
}

func (l *maxOfLimiter[T]) Forget(item T) {
	for _, limiter := range l.limiters {
		limiter.Forget(item)
	}
}
