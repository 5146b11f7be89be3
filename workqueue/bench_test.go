package workqueue

// Benchmarks run every scenario against both implementations as
// sub-benchmarks impl=kjob and impl=client-go, so one run compares them:
//
//	go test -run '^$' -bench . -benchmem -count 6 ./workqueue/ > bench.txt
//	benchstat -col /impl bench.txt
//
// Every scenario runs real goroutines on the real clock; ns/op is the wall
// time per unit of work named in the scenario, allocs/op counts allocations
// of all goroutines (the queue's own included).

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientworkqueue "k8s.io/client-go/util/workqueue"
)

// benchWorkers is the number of worker goroutines: more than the two cores
// the benchmarks were measured on, so workers contend for the queue.
const benchWorkers = 4

func benchImplementations(b *testing.B, body func(b *testing.B, impl Implementation)) {
	for _, impl := range Implementations() {
		b.Run("impl="+string(impl), func(b *testing.B) {
			b.ReportAllocs()
			body(b, impl)
		})
	}
}

func newBenchQueue(impl Implementation, limiter clientworkqueue.TypedRateLimiter[int]) clientworkqueue.TypedRateLimitingInterface[int] {
	if limiter == nil {
		limiter = NewItemExponentialFailureRateLimiter[int](time.Millisecond, time.Second)
	}
	return NewRateLimiting(limiter, Options{Implementation: impl})
}

// split divides n units of work among parts goroutines.
func split(n, parts, part int) int {
	share := n / parts
	if part < n%parts {
		share++
	}
	return share
}

// BenchmarkAddGetDone measures the plain queue under contention. One op is
// one Add (and, for the patterns that dedup nothing, one Get and one Done).
func BenchmarkAddGetDone(b *testing.B) {
	b.Run("pattern=cycle", func(b *testing.B) {
		// Each worker adds a key of its own, then takes whichever key is
		// first and finishes it: the shortest Add→Get→Done path, with
		// every worker on the lock at once.
		benchImplementations(b, func(b *testing.B, impl Implementation) {
			q := newBenchQueue(impl, nil)
			defer q.ShutDown()
			var workers sync.WaitGroup
			b.ResetTimer()
			for w := range benchWorkers {
				workers.Go(func() {
					base := w * b.N
					for i := range split(b.N, benchWorkers, w) {
						q.Add(base + i)
						item, _ := q.Get()
						q.Done(item)
					}
				})
			}
			workers.Wait()
		})
	})
	b.Run("pattern=producer-consumer", func(b *testing.B) {
		// Two producers add distinct keys; workers drain them.
		benchImplementations(b, func(b *testing.B, impl Implementation) {
			q := newBenchQueue(impl, nil)
			workers := startBenchWorkers(q, func(int) {})
			b.ResetTimer()
			produce(b.N, 2, func(i int) { q.Add(i) })
			q.ShutDownWithDrain() // Get keeps handing out what is ready
			workers.Wait()
		})
	})
	b.Run("pattern=hot-keys", func(b *testing.B) {
		// Two producers add 64 keys over and over, as informer events for a
		// few busy objects do: mostly deduplicated, often re-added while a
		// worker holds the key.
		benchImplementations(b, func(b *testing.B, impl Implementation) {
			q := newBenchQueue(impl, nil)
			workers := startBenchWorkers(q, func(int) {})
			b.ResetTimer()
			produce(b.N, 2, func(i int) { q.Add(i % 64) })
			q.ShutDownWithDrain()
			workers.Wait()
		})
	})
}

// BenchmarkAddAfter measures the delay path. One op is one AddAfter.
func BenchmarkAddAfter(b *testing.B) {
	b.Run("delay=short", func(b *testing.B) {
		// Distinct keys with delays up to 100µs: every request goes
		// through the heap and the timer, and workers take each item as
		// soon as it is due. Timed until the last item is done.
		benchImplementations(b, func(b *testing.B, impl Implementation) {
			q := newBenchQueue(impl, nil)
			var finished atomic.Int64
			allDone := make(chan struct{})
			workers := startBenchWorkers(q, func(int) {
				if finished.Add(1) == int64(b.N) {
					close(allDone)
				}
			})
			b.ResetTimer()
			produce(b.N, 2, func(i int) { q.AddAfter(i, time.Duration(1+i%100)*time.Microsecond) })
			<-allDone
			b.StopTimer()
			q.ShutDown()
			workers.Wait()
		})
	})
	b.Run("delay=repeated", func(b *testing.B) {
		// 1024 keys asked again and again to come back in an hour, as a
		// controller re-arms a deadline on every sync: after the first
		// round every request loses to the earlier one already waiting.
		benchImplementations(b, func(b *testing.B, impl Implementation) {
			q := newBenchQueue(impl, nil)
			b.ResetTimer()
			produce(b.N, 2, func(i int) { q.AddAfter(i%1024, time.Hour) })
			b.StopTimer()
			q.ShutDown()
		})
	})
}

// BenchmarkAddRateLimited measures failing work: every key fails twice
// (AddRateLimited, with 1µs and 2µs backoff) and then succeeds (Forget).
// One op is one key's whole life: three runs.
func BenchmarkAddRateLimited(b *testing.B) {
	benchImplementations(b, func(b *testing.B, impl Implementation) {
		q := newBenchQueue(impl, NewItemExponentialFailureRateLimiter[int](time.Microsecond, time.Millisecond))
		var succeeded atomic.Int64
		allDone := make(chan struct{})
		workers := startBenchWorkers(q, func(item int) {
			if q.NumRequeues(item) < 2 {
				q.AddRateLimited(item)
				return
			}
			q.Forget(item)
			if succeeded.Add(1) == int64(b.N) {
				close(allDone)
			}
		})
		b.ResetTimer()
		produce(b.N, 2, func(i int) { q.Add(i) })
		<-allDone
		b.StopTimer()
		q.ShutDown()
		workers.Wait()
	})
}

// startBenchWorkers starts benchWorkers goroutines that run process on every
// item until the queue shuts down.
func startBenchWorkers(q clientworkqueue.TypedRateLimitingInterface[int], process func(item int)) *sync.WaitGroup {
	workers := &sync.WaitGroup{}
	for range benchWorkers {
		workers.Go(func() {
			for {
				item, shutdown := q.Get()
				if shutdown {
					return
				}
				process(item)
				q.Done(item)
			}
		})
	}
	return workers
}

// produce calls add(i) for i in [0, n) from producers goroutines, each
// taking an interleaved share, and returns when all calls returned.
func produce(n, producers int, add func(i int)) {
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := p; i < n; i += producers {
				add(i)
			}
		})
	}
	wg.Wait()
}
