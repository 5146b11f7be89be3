package workqueue

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	clientworkqueue "k8s.io/client-go/util/workqueue"
	testingclock "k8s.io/utils/clock/testing"
)

type testLimiter = clientworkqueue.TypedRateLimiter[string]

// whenSeq calls When n times for item and returns the delays.
func whenSeq(l testLimiter, item string, n int) []time.Duration {
	delays := make([]time.Duration, n)
	for i := range delays {
		delays[i] = l.When(item)
	}
	return delays
}

// TestItemExponentialLimiter checks our exponential limiter, and checks that
// client-go's gives the same delays for the same settings.
func TestItemExponentialLimiter(t *testing.T) {
	constructors := []struct {
		name string
		new  func(base, limit time.Duration) testLimiter
	}{
		{name: "limiter=kjob", new: NewItemExponentialFailureRateLimiter[string]},
		{name: "limiter=client-go", new: clientworkqueue.NewTypedItemExponentialFailureRateLimiter[string]},
	}
	cases := []struct {
		name  string
		base  time.Duration
		limit time.Duration
		want  []time.Duration
	}{
		{
			name: "doubles from base", base: time.Millisecond, limit: time.Second,
			want: []time.Duration{1 * time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 8 * time.Millisecond},
		},
		{
			name: "Job controller: 1s to 60s", base: time.Second, limit: time.Minute,
			want: []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute},
		},
		{
			name: "limit below base", base: time.Second, limit: time.Millisecond,
			want: []time.Duration{time.Millisecond, time.Millisecond},
		},
	}
	for _, c := range constructors {
		t.Run(c.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					assert.Equal(t, tc.want, whenSeq(c.new(tc.base, tc.limit), "a", len(tc.want)))
				})
			}
			t.Run("never overflows", func(t *testing.T) {
				l := c.new(5*time.Millisecond, 1000*time.Second)
				for i, d := range whenSeq(l, "a", 200) {
					if d <= 0 || d > 1000*time.Second {
						t.Fatalf("failure %d: delay %v outside (0, 1000s]", i, d)
					}
				}
				assert.Equal(t, 1000*time.Second, l.When("a"))
				assert.Equal(t, 201, l.NumRequeues("a"))
			})
			t.Run("counts and forgets per item", func(t *testing.T) {
				l := c.new(time.Second, time.Minute)
				whenSeq(l, "a", 3)
				assert.Equal(t, 3, l.NumRequeues("a"))
				assert.Equal(t, time.Second, l.When("b"), "b backs off independently of a")
				l.Forget("a")
				assert.Equal(t, 0, l.NumRequeues("a"))
				assert.Equal(t, 1, l.NumRequeues("b"), "Forget(a) leaves b alone")
				assert.Equal(t, time.Second, l.When("a"), "a starts over")
			})
		})
	}
}

func TestBucketLimiter(t *testing.T) {
	type call struct {
		// advance moves the clock before the call.
		advance time.Duration
		want    time.Duration
	}
	cases := []struct {
		name  string
		qps   float64
		burst int
		calls []call
	}{
		{
			name: "burst is free, then one token per 1/qps", qps: 2, burst: 3,
			calls: []call{{want: 0}, {want: 0}, {want: 0}, {want: 500 * time.Millisecond}, {want: time.Second}, {want: 1500 * time.Millisecond}},
		},
		{
			name: "tokens accrue with time", qps: 2, burst: 3,
			calls: []call{{want: 0}, {want: 0}, {want: 0}, {advance: time.Second, want: 0}, {want: 0}, {want: 500 * time.Millisecond}},
		},
		{
			name: "accrual stops at burst", qps: 10, burst: 2,
			calls: []call{{advance: time.Hour, want: 0}, {want: 0}, {want: 100 * time.Millisecond}},
		},
		{
			name: "promised tokens are paid back first", qps: 1, burst: 1,
			// After three calls the balance is -2; 1s later it is -1.
			calls: []call{{want: 0}, {want: time.Second}, {want: 2 * time.Second}, {advance: time.Second, want: 2 * time.Second}},
		},
		{
			name: "zero qps: burst, then never", qps: 0, burst: 2,
			calls: []call{{want: 0}, {want: 0}, {want: neverDelay}, {advance: time.Hour, want: neverDelay}},
		},
		{
			name: "zero burst: never", qps: 10, burst: 0,
			calls: []call{{want: neverDelay}, {advance: time.Hour, want: neverDelay}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := testingclock.NewFakePassiveClock(testStartTime())
			l := NewBucketRateLimiter[string](tc.qps, tc.burst, clk)
			for i, c := range tc.calls {
				clk.SetTime(clk.Now().Add(c.advance))
				assert.Equal(t, c.want, l.When("any"), "call %d", i)
			}
			assert.Equal(t, 0, l.NumRequeues("any"), "the bucket tracks no items")
			l.Forget("any") // and has nothing to forget
		})
	}
}

func TestBucketLimiterClockGoingBackwards(t *testing.T) {
	clk := testingclock.NewFakePassiveClock(testStartTime())
	l := NewBucketRateLimiter[string](1, 1, clk)
	assert.Equal(t, time.Duration(0), l.When("a"))
	clk.SetTime(clk.Now().Add(-time.Hour))
	assert.Equal(t, time.Second, l.When("a"), "no tokens for time running backwards")
	clk.SetTime(clk.Now().Add(2 * time.Second))
	assert.Equal(t, time.Duration(0), l.When("a"), "accrual restarts from the earlier time")
}

func TestMaxOfLimiter(t *testing.T) {
	clk := testingclock.NewFakePassiveClock(testStartTime())
	l := NewMaxOfRateLimiter(
		NewItemExponentialFailureRateLimiter[string](time.Millisecond, time.Second),
		NewBucketRateLimiter[string](1, 2, clk),
	)
	// Item backoff dominates while the bucket has tokens, then the bucket.
	assert.Equal(t, time.Millisecond, l.When("a"))
	assert.Equal(t, 2*time.Millisecond, l.When("a"))
	assert.Equal(t, time.Second, l.When("b"), "bucket empty: 1s beats b's 1ms")
	assert.Equal(t, 2, l.NumRequeues("a"), "the most any limiter counted")
	l.Forget("a")
	assert.Equal(t, 0, l.NumRequeues("a"))
	clk.SetTime(clk.Now().Add(time.Hour))
	assert.Equal(t, time.Millisecond, l.When("a"), "Forget reached the item limiter")
}

func TestMaxOfNoLimiters(t *testing.T) {
	l := NewMaxOfRateLimiter[string]()
	assert.Equal(t, time.Duration(0), l.When("a"))
	assert.Equal(t, 0, l.NumRequeues("a"))
}

// TestDefaultControllerRateLimiterMatchesClientGo runs the same calls through
// our default limiter and client-go's. Inside a synctest bubble the real
// clock is virtual, so client-go's bucket (which reads time.Now) and ours
// see identical times and must return identical delays.
func TestDefaultControllerRateLimiterMatchesClientGo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ours := DefaultControllerRateLimiter[string]()
		theirs := clientworkqueue.DefaultTypedControllerRateLimiter[string]()
		type call struct {
			item  string
			sleep time.Duration
		}
		var script []call
		// A burst of 150 new items: 100 free tokens, then 10 per second.
		for i := range 150 {
			script = append(script, call{item: string(rune('A' + i%50))})
		}
		// Some refill, then one item failing again and again.
		script = append(script, call{item: "x", sleep: 3 * time.Second})
		for range 30 {
			script = append(script, call{item: "x", sleep: 70 * time.Millisecond})
		}
		for i, c := range script {
			time.Sleep(c.sleep)
			if !assert.Equal(t, theirs.When(c.item), ours.When(c.item), "call %d (%s)", i, c.item) {
				return
			}
			assert.Equal(t, theirs.NumRequeues(c.item), ours.NumRequeues(c.item), "call %d (%s)", i, c.item)
		}
		assert.Equal(t, 5*time.Millisecond, DefaultControllerRateLimiterWithClock[string](
			testingclock.NewFakePassiveClock(testStartTime())).When("fresh"), "first failure of a fresh item")
	})
}
