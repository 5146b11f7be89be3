package workqueue

// The contract tests: each Test function pins one clause of the queue
// contract and runs it as a subtest against every implementation. A clause on
// which client-go's queue and ours disagree is a bug in ours.
//
// Every subtest runs inside a testing/synctest bubble. synctest.Wait blocks
// until every goroutine in the bubble (the queue's own and the test's
// workers) is durably blocked, so "the queue has reacted to this" and "this
// Get is still blocked" are facts, not guesses, and no test sleeps. Time is
// a FakeClock stepped by hand.

import (
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientworkqueue "k8s.io/client-go/util/workqueue"
	testingclock "k8s.io/utils/clock/testing"
)

// testQueue is the interface every implementation satisfies.
type testQueue = clientworkqueue.TypedRateLimitingInterface[string]

// testEnv is what a contract subtest gets: the implementation under test and
// a fake clock, both living inside the subtest's bubble.
type testEnv struct {
	impl  Implementation
	clock *testingclock.FakeClock
}

func testStartTime() time.Time { return time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC) }

// forEachImplementation runs body as one subtest per implementation, each in
// its own synctest bubble with a fresh fake clock.
func forEachImplementation(t *testing.T, body func(t *testing.T, env testEnv)) {
	t.Helper()
	for _, impl := range Implementations() {
		t.Run("impl="+string(impl), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				body(t, testEnv{impl: impl, clock: testingclock.NewFakeClock(testStartTime())})
			})
		})
	}
}

// newQueue builds the queue under test with limiter, or with a 1s..1min
// exponential limiter when limiter is nil. The queue is shut down when the
// subtest ends, so no goroutine outlives the bubble.
func (e testEnv) newQueue(t *testing.T, limiter clientworkqueue.TypedRateLimiter[string]) testQueue {
	t.Helper()
	if limiter == nil {
		limiter = NewItemExponentialFailureRateLimiter[string](time.Second, time.Minute)
	}
	q := NewRateLimiting(limiter, Options{Clock: e.clock, Implementation: e.impl})
	t.Cleanup(q.ShutDown)
	return q
}

// step moves the fake clock once the bubble is idle, then waits until the
// queue has finished reacting to the new time.
func (e testEnv) step(d time.Duration) {
	synctest.Wait()
	e.clock.Step(d)
	synctest.Wait()
}

// getResult is what a Get returned.
type getResult struct {
	item     string
	shutdown bool
}

// getAsync calls Get on a new goroutine, standing for a worker that may block.
func getAsync(q testQueue) <-chan getResult {
	results := make(chan getResult, 1)
	go func() {
		item, shutdown := q.Get()
		results <- getResult{item: item, shutdown: shutdown}
	}()
	return results
}

// returned reports what the Get behind results returned, or false if it is
// still blocked once the bubble is idle.
func returned(results <-chan getResult) (getResult, bool) {
	synctest.Wait()
	select {
	case r := <-results:
		return r, true
	default:
		return getResult{}, false
	}
}

// requireLen checks the number of ready items once the bubble is idle.
func requireLen(t *testing.T, q testQueue, want int) {
	t.Helper()
	synctest.Wait()
	require.Equal(t, want, q.Len(), "ready items")
}

// mustGet takes the next ready item, which must be want. It checks first
// that something is ready, so a wrong test fails instead of blocking.
func mustGet(t *testing.T, q testQueue, want string) {
	t.Helper()
	synctest.Wait()
	require.Positive(t, q.Len(), "nothing ready; expected %q", want)
	item, shutdown := q.Get()
	require.False(t, shutdown, "Get reported shutdown; expected %q", want)
	require.Equal(t, want, item)
}

// drainOrder Gets and Dones every ready item, returning them in order.
func drainOrder(t *testing.T, q testQueue) []string {
	t.Helper()
	synctest.Wait()
	var got []string
	for q.Len() > 0 {
		item, shutdown := q.Get()
		require.False(t, shutdown)
		got = append(got, item)
		q.Done(item)
	}
	return got
}

func TestContractDedupWhileQueued(t *testing.T) {
	cases := []struct {
		name      string
		adds      []string
		wantOrder []string
	}{
		{name: "one add, one run", adds: []string{"a"}, wantOrder: []string{"a"}},
		{name: "repeated add runs once", adds: []string{"a", "a", "a"}, wantOrder: []string{"a"}},
		{name: "interleaved repeats run once each", adds: []string{"a", "b", "a", "b"}, wantOrder: []string{"a", "b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forEachImplementation(t, func(t *testing.T, env testEnv) {
				q := env.newQueue(t, nil)
				for _, item := range tc.adds {
					q.Add(item)
				}
				require.Equal(t, len(tc.wantOrder), q.Len())
				assert.Equal(t, tc.wantOrder, drainOrder(t, q))
			})
		})
	}
}

func TestContractFIFOOrder(t *testing.T) {
	t.Run("items come out in the order first added", func(t *testing.T) {
		forEachImplementation(t, func(t *testing.T, env testEnv) {
			q := env.newQueue(t, nil)
			want := []string{"e", "b", "d", "a", "c"}
			for _, item := range want {
				q.Add(item)
			}
			assert.Equal(t, want, drainOrder(t, q))
		})
	})
	t.Run("a repeated add keeps the first position", func(t *testing.T) {
		forEachImplementation(t, func(t *testing.T, env testEnv) {
			q := env.newQueue(t, nil)
			for _, item := range []string{"a", "b", "c", "a"} {
				q.Add(item)
			}
			assert.Equal(t, []string{"a", "b", "c"}, drainOrder(t, q))
		})
	})
	t.Run("an item re-added while processing goes to the back at Done", func(t *testing.T) {
		forEachImplementation(t, func(t *testing.T, env testEnv) {
			q := env.newQueue(t, nil)
			q.Add("a")
			q.Add("b")
			mustGet(t, q, "a")
			q.Add("a")
			q.Add("c")
			q.Done("a")
			assert.Equal(t, []string{"b", "c", "a"}, drainOrder(t, q))
		})
	})
}

func TestContractAddWhileProcessingRequeuesAfterDone(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, env testEnv) {
		q := env.newQueue(t, nil)
		q.Add("a")
		mustGet(t, q, "a")

		q.Add("a")
		q.Add("a")
		requireLen(t, q, 0) // not ready while held

		q.Done("a")
		requireLen(t, q, 1) // ready once, however often it was re-added
		mustGet(t, q, "a")
		q.Done("a")
		requireLen(t, q, 0) // and not again: the re-add was consumed
	})
}

func TestContractNoKeyHandedToTwoWorkers(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, env testEnv) {
		q := env.newQueue(t, nil)
		q.Add("a")
		first := getAsync(q)
		r, ok := returned(first)
		require.True(t, ok, "first worker got nothing")
		require.Equal(t, "a", r.item)

		q.Add("a")
		second := getAsync(q)
		_, ok = returned(second)
		require.False(t, ok, "second worker got the key while the first still holds it")

		q.Done("a")
		r, ok = returned(second)
		require.True(t, ok, "second worker did not get the key after Done")
		assert.Equal(t, getResult{item: "a"}, r)
		q.Done("a")
	})
}

func TestContractGetBlocksUntilAdd(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, env testEnv) {
		q := env.newQueue(t, nil)
		worker := getAsync(q)
		_, ok := returned(worker)
		require.False(t, ok, "Get returned from an empty queue")

		q.Add("a")
		r, ok := returned(worker)
		require.True(t, ok, "Get did not wake on Add")
		assert.Equal(t, getResult{item: "a"}, r)
	})
}

func TestContractAddAfterOrdering(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, env testEnv) {
		q := env.newQueue(t, nil)
		q.AddAfter("c", 3*time.Second)
		q.AddAfter("a", 1*time.Second)
		q.AddAfter("b", 2*time.Second)
		requireLen(t, q, 0)

		env.step(time.Second - time.Nanosecond)
		requireLen(t, q, 0) // not a moment early
		env.step(time.Nanosecond)
		mustGet(t, q, "a")
		requireLen(t, q, 0)

		env.step(time.Second)
		mustGet(t, q, "b")
		env.step(time.Second)
		mustGet(t, q, "c")
	})
}

func TestContractAddAfterEarlierOvertakesWaiting(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, env testEnv) {
		q := env.newQueue(t, nil)
		q.AddAfter("late", time.Hour)
		synctest.Wait() // the queue is now sleeping until the hour is up
		q.AddAfter("early", time.Second)
		env.step(time.Second)
		mustGet(t, q, "early")
		requireLen(t, q, 0)
	})
}

func TestContractAddAfterReleasesEverythingDue(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, env testEnv) {
		q := env.newQueue(t, nil)
		q.AddAfter("c", 3*time.Second)
		q.AddAfter("a", 1*time.Second)
		q.AddAfter("b", 2*time.Second)
		q.AddAfter("d", 4*time.Second)

		env.step(3 * time.Second)
		assert.Equal(t, []string{"a", "b", "c"}, drainOrder(t, q), "due items, earliest first")
		env.step(time.Second)
		assert.Equal(t, []string{"d"}, drainOrder(t, q))
	})
}

func TestContractDuplicateAddAfterEarlierWins(t *testing.T) {
	cases := []struct {
		name   string
		delays []time.Duration
		// wantAt is when the single run becomes ready.
		wantAt time.Duration
	}{
		{name: "earlier second request moves it closer", delays: []time.Duration{2 * time.Second, time.Second}, wantAt: time.Second},
		{name: "later second request is ignored", delays: []time.Duration{time.Second, 2 * time.Second}, wantAt: time.Second},
		{name: "equal requests add once", delays: []time.Duration{time.Second, time.Second}, wantAt: time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forEachImplementation(t, func(t *testing.T, env testEnv) {
				q := env.newQueue(t, nil)
				for _, d := range tc.delays {
					q.AddAfter("a", d)
					synctest.Wait()
				}
				env.step(tc.wantAt - time.Nanosecond)
				requireLen(t, q, 0)
				env.step(time.Nanosecond)
				mustGet(t, q, "a")
				q.Done("a")
				// The other request was merged, not kept: nothing more comes.
				env.step(time.Hour)
				requireLen(t, q, 0)
			})
		})
	}
}

func TestContractReplacedAddAfterLeavesNothingBehind(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, env testEnv) {
		q := env.newQueue(t, nil)
		q.AddAfter("a", 2*time.Second)
		q.AddAfter("a", time.Second) // replaces the 2s request
		env.step(time.Second)
		mustGet(t, q, "a")
		q.Done("a")

		q.AddAfter("a", 5*time.Second) // a new request, due at 6s
		env.step(time.Second)
		requireLen(t, q, 0) // the replaced 2s request does not fire
		env.step(4*time.Second - time.Nanosecond)
		requireLen(t, q, 0)
		env.step(time.Nanosecond)
		mustGet(t, q, "a")
	})
}

func TestContractAddAfterNonPositiveDelayAddsAtOnce(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, env testEnv) {
		q := env.newQueue(t, nil)
		q.AddAfter("zero", 0)
		q.AddAfter("negative", -time.Second)
		// No synctest.Wait and no clock step: the items are ready as soon
		// as AddAfter returns.
		require.Equal(t, 2, q.Len())
		assert.Equal(t, []string{"zero", "negative"}, drainOrder(t, q))
	})
}

func TestContractLongestDelayNeverComesDue(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, env testEnv) {
		q := env.newQueue(t, nil)
		env.step(time.Second) // so that "now + delay" would overflow if added naively
		q.AddAfter("never", time.Duration(math.MaxInt64))
		env.step(1000 * time.Hour)
		requireLen(t, q, 0)
	})
}

func TestContractAddAfterOfQueuedItemDedups(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, env testEnv) {
		q := env.newQueue(t, nil)
		q.Add("a")
		q.AddAfter("a", time.Second)
		env.step(time.Second)
		// Still queued when the delay ended, so the two adds are one run.
		assert.Equal(t, []string{"a"}, drainOrder(t, q))
	})
}

func TestContractRateLimitedDelaysGrowAndForgetResets(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, env testEnv) {
		q := env.newQueue(t, NewItemExponentialFailureRateLimiter[string](time.Second, 4*time.Second))
		// requeueAfter checks AddRateLimited makes "a" ready exactly after d.
		requeueAfter := func(d time.Duration) {
			t.Helper()
			q.AddRateLimited("a")
			env.step(d - time.Nanosecond)
			requireLen(t, q, 0)
			env.step(time.Nanosecond)
			mustGet(t, q, "a")
			q.Done("a")
		}
		for _, d := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
			requeueAfter(d)
		}
		q.Forget("a")
		requeueAfter(time.Second)
	})
}

func TestContractNumRequeues(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, env testEnv) {
		q := env.newQueue(t, nil)
		assert.Equal(t, 0, q.NumRequeues("a"), "never failed")
		q.AddRateLimited("a")
		q.AddRateLimited("a")
		assert.Equal(t, 2, q.NumRequeues("a"))
		assert.Equal(t, 0, q.NumRequeues("b"), "counted per item")
		q.AddAfter("b", time.Second)
		q.Add("b")
		assert.Equal(t, 0, q.NumRequeues("b"), "only AddRateLimited counts")
		q.Forget("a")
		assert.Equal(t, 0, q.NumRequeues("a"), "after Forget")
	})
}

func TestContractAcceptsEitherLimiter(t *testing.T) {
	limiters := []struct {
		name string
		new  func() clientworkqueue.TypedRateLimiter[string]
	}{
		{name: "limiter=kjob", new: func() clientworkqueue.TypedRateLimiter[string] {
			return NewItemExponentialFailureRateLimiter[string](time.Second, time.Minute)
		}},
		{name: "limiter=client-go", new: func() clientworkqueue.TypedRateLimiter[string] {
			return clientworkqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Second, time.Minute)
		}},
	}
	for _, l := range limiters {
		t.Run(l.name, func(t *testing.T) {
			forEachImplementation(t, func(t *testing.T, env testEnv) {
				q := env.newQueue(t, l.new())
				q.AddRateLimited("a")
				q.AddRateLimited("a") // second failure: 2s
				assert.Equal(t, 2, q.NumRequeues("a"))
				env.step(time.Second)
				mustGet(t, q, "a") // the earlier (1s) request won
			})
		})
	}
}

func TestContractNilLimiterMeansDefault(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, env testEnv) {
		q := NewRateLimiting[string](nil, Options{Clock: env.clock, Implementation: env.impl})
		t.Cleanup(q.ShutDown)
		q.AddRateLimited("a") // the default's first delay: 5ms
		env.step(5*time.Millisecond - time.Nanosecond)
		requireLen(t, q, 0)
		env.step(time.Nanosecond)
		mustGet(t, q, "a")
		assert.Equal(t, 1, q.NumRequeues("a"))
	})
}

func TestParseImplementation(t *testing.T) {
	cases := []struct {
		name    string
		input   string
		want    Implementation
		wantErr string
	}{
		{name: "empty is the default", input: "", want: ImplementationKjob},
		{name: "ours", input: "kjob", want: ImplementationKjob},
		{name: "client-go", input: "client-go", want: ImplementationClientGo},
		{name: "unknown", input: "clientgo", wantErr: `workqueue implementation "clientgo": unknown, want "kjob" or "client-go"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseImplementation(tc.input)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)

			var flagValue Implementation
			require.NoError(t, flagValue.Set(tc.input))
			assert.Equal(t, string(tc.want), flagValue.String())
		})
	}
}

func TestUnknownImplementationFallsBackToDefault(t *testing.T) {
	q := NewRateLimiting[string](nil, Options{Implementation: "bogus"})
	defer q.ShutDown()
	_, ours := q.(*queue[string])
	assert.True(t, ours, "an unknown implementation builds this package's queue, got %T", q)
}
