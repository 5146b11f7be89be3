package sim_test

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/kjob-dev/kjob/sim"
)

var clockStart = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// received reports whether ch holds a value right now, and the value.
func received(ch <-chan time.Time) (time.Time, bool) {
	select {
	case v := <-ch:
		return v, true
	default:
		return time.Time{}, false
	}
}

// eventually spins until cond holds. It yields instead of sleeping, and only
// gives up after a wall-time bound far above any real scheduling delay, so
// it never turns into a timing assertion.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	giveUp := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(giveUp) {
			t.Fatalf("gave up waiting for %s", what)
		}
		runtime.Gosched()
	}
}

func TestVirtualClockNowMovesOnlyWhenTold(t *testing.T) {
	c := sim.NewVirtualClock(clockStart)
	if got := c.Now(); !got.Equal(clockStart) {
		t.Fatalf("Now() = %v, want the start %v", got, clockStart)
	}
	c.Step(90 * time.Second)
	if got, want := c.Now(), clockStart.Add(90*time.Second); !got.Equal(want) {
		t.Errorf("after Step(90s) Now() = %v, want %v", got, want)
	}
	if got := c.Since(clockStart); got != 90*time.Second {
		t.Errorf("Since(start) = %v, want 90s", got)
	}
	later := clockStart.Add(time.Hour)
	c.SetTime(later)
	if got := c.Now(); !got.Equal(later) {
		t.Errorf("after SetTime Now() = %v, want %v", got, later)
	}
}

func TestVirtualClockTimer(t *testing.T) {
	tests := []struct {
		name      string
		delay     time.Duration
		steps     []time.Duration
		wantFired bool
		wantValue time.Duration // offset of the received value from clockStart
	}{
		{name: "not yet due", delay: 10 * time.Second, steps: []time.Duration{9 * time.Second}, wantFired: false},
		{name: "exactly due", delay: 10 * time.Second, steps: []time.Duration{10 * time.Second}, wantFired: true, wantValue: 10 * time.Second},
		{name: "due over two steps", delay: 10 * time.Second, steps: []time.Duration{4 * time.Second, 6 * time.Second}, wantFired: true, wantValue: 10 * time.Second},
		{name: "jumped over receives the new time", delay: 10 * time.Second, steps: []time.Duration{time.Minute}, wantFired: true, wantValue: time.Minute},
		{name: "zero delay fires at once", delay: 0, wantFired: true, wantValue: 0},
		{name: "negative delay fires at once", delay: -time.Second, wantFired: true, wantValue: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := sim.NewVirtualClock(clockStart)
			timer := c.NewTimer(tc.delay)
			for _, s := range tc.steps {
				c.Step(s)
			}
			v, fired := received(timer.C())
			if fired != tc.wantFired {
				t.Fatalf("fired = %v, want %v", fired, tc.wantFired)
			}
			if fired && !v.Equal(clockStart.Add(tc.wantValue)) {
				t.Errorf("received %v, want start+%v", v, tc.wantValue)
			}
			if _, again := received(timer.C()); again {
				t.Errorf("a timer fired twice")
			}
		})
	}
}

func TestVirtualClockAfterAndSetTimeBackwards(t *testing.T) {
	c := sim.NewVirtualClock(clockStart)
	ch := c.After(time.Minute)
	c.SetTime(clockStart.Add(-time.Hour))
	if _, fired := received(ch); fired {
		t.Fatalf("moving the clock backwards fired a timer")
	}
	c.SetTime(clockStart.Add(time.Minute))
	if _, fired := received(ch); !fired {
		t.Fatalf("After(1m) did not fire once the clock reached its deadline")
	}
}

func TestVirtualClockTimerStopAndReset(t *testing.T) {
	tests := []struct {
		name string
		// act runs on a timer armed for 10s and returns the result of Stop or Reset.
		act        func(c *sim.VirtualClock, timer clock.Timer) bool
		wantResult bool
		// stepAfter is how far the clock moves after act, before the final check.
		stepAfter time.Duration
		wantFired bool
	}{
		{
			name:       "stop before the deadline cancels it",
			act:        func(c *sim.VirtualClock, tm clock.Timer) bool { return tm.Stop() },
			wantResult: true, stepAfter: time.Minute, wantFired: false,
		},
		{
			name: "stop after the fire was read reports false",
			act: func(c *sim.VirtualClock, tm clock.Timer) bool {
				c.Step(10 * time.Second)
				<-tm.C()
				return tm.Stop()
			},
			wantResult: false, stepAfter: time.Minute, wantFired: false,
		},
		{
			name: "stop withdraws a fire that was not read",
			act: func(c *sim.VirtualClock, tm clock.Timer) bool {
				c.Step(10 * time.Second)
				return tm.Stop()
			},
			wantResult: true, stepAfter: time.Minute, wantFired: false,
		},
		{
			name: "reset moves the deadline later",
			act: func(c *sim.VirtualClock, tm clock.Timer) bool {
				return tm.Reset(30 * time.Second)
			},
			wantResult: true, stepAfter: 29 * time.Second, wantFired: false,
		},
		{
			name: "reset after the fire was read re-arms it",
			act: func(c *sim.VirtualClock, tm clock.Timer) bool {
				c.Step(10 * time.Second)
				<-tm.C()
				return tm.Reset(5 * time.Second)
			},
			wantResult: false, stepAfter: 5 * time.Second, wantFired: true,
		},
		{
			name: "reset withdraws an unread fire of the old deadline",
			act: func(c *sim.VirtualClock, tm clock.Timer) bool {
				c.Step(10 * time.Second)
				return tm.Reset(5 * time.Second)
			},
			wantResult: true, stepAfter: 4 * time.Second, wantFired: false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := sim.NewVirtualClock(clockStart)
			timer := c.NewTimer(10 * time.Second)
			if got := tc.act(c, timer); got != tc.wantResult {
				t.Errorf("result = %v, want %v", got, tc.wantResult)
			}
			c.Step(tc.stepAfter)
			if _, fired := received(timer.C()); fired != tc.wantFired {
				t.Errorf("fired = %v, want %v", fired, tc.wantFired)
			}
		})
	}
}

func TestVirtualClockTicker(t *testing.T) {
	tests := []struct {
		name      string
		period    time.Duration
		steps     []time.Duration
		wantTicks int
		// wantNext is the offset from clockStart of the next tick after the steps.
		wantNext time.Duration
	}{
		{name: "one tick per period", period: 10 * time.Second, steps: []time.Duration{10 * time.Second, 10 * time.Second, 10 * time.Second}, wantTicks: 3, wantNext: 40 * time.Second},
		{name: "not yet a period", period: 10 * time.Second, steps: []time.Duration{9 * time.Second}, wantTicks: 0, wantNext: 10 * time.Second},
		{name: "a jump over several periods ticks once and keeps the phase", period: 10 * time.Second, steps: []time.Duration{35 * time.Second}, wantTicks: 1, wantNext: 40 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := sim.NewVirtualClock(clockStart)
			ticker := c.NewTicker(tc.period)
			ticks := 0
			for _, s := range tc.steps {
				c.Step(s)
				if _, ok := received(ticker.C()); ok {
					ticks++
				}
			}
			if ticks != tc.wantTicks {
				t.Errorf("ticks = %d, want %d", ticks, tc.wantTicks)
			}
			next, ok := c.NextWakeup()
			if !ok || !next.Equal(clockStart.Add(tc.wantNext)) {
				t.Errorf("NextWakeup() = %v, %v; want start+%v", next, ok, tc.wantNext)
			}
			ticker.Stop()
			if _, ok := c.NextWakeup(); ok {
				t.Errorf("a stopped ticker is still armed")
			}
			c.Step(time.Hour)
			if _, ok := received(ticker.C()); ok {
				t.Errorf("a stopped ticker ticked")
			}
		})
	}
}

func TestVirtualClockNonPositiveTicker(t *testing.T) {
	c := sim.NewVirtualClock(clockStart)
	ticker := c.NewTicker(0)
	if c.Tick(-time.Second) != nil {
		t.Errorf("Tick(-1s) returned a channel, want nil like time.Tick")
	}
	if n := c.Waiters(); n != 0 {
		t.Errorf("Waiters() = %d after a zero-period ticker, want 0", n)
	}
	c.Step(time.Hour)
	if _, ok := received(ticker.C()); ok {
		t.Errorf("a zero-period ticker ticked")
	}
}

func TestVirtualClockAfterFunc(t *testing.T) {
	c := sim.NewVirtualClock(clockStart)
	ran := make(chan time.Time, 1)
	c.AfterFunc(5*time.Second, func() { ran <- c.Now() })
	cancelled := c.AfterFunc(5*time.Second, func() { t.Errorf("a stopped AfterFunc ran") })
	if !cancelled.Stop() {
		t.Errorf("Stop() of an armed AfterFunc = false, want true")
	}
	if cancelled.C() != nil {
		t.Errorf("an AfterFunc timer has a channel, want nil")
	}

	c.Step(4 * time.Second)
	select {
	case <-ran:
		t.Fatalf("AfterFunc ran before its deadline")
	default:
	}
	c.Step(time.Second)
	if got := <-ran; !got.Equal(clockStart.Add(5 * time.Second)) {
		t.Errorf("callback saw Now() = %v, want start+5s", got)
	}
}

// A callback that arms new timers and reads the clock must not deadlock the
// goroutine that moved the clock, nor itself.
func TestVirtualClockCallbackMayUseTheClock(t *testing.T) {
	c := sim.NewVirtualClock(clockStart)
	done := make(chan struct{})
	var chain func(left int)
	chain = func(left int) {
		if left == 0 {
			close(done)
			return
		}
		_ = c.Now()
		c.AfterFunc(time.Second, func() { chain(left - 1) })
	}
	c.AfterFunc(time.Second, func() { chain(3) })
	for i := 0; i < 4; i++ {
		eventually(t, "the next callback to arm", func() bool { return c.Waiters() == 1 })
		next, _ := c.NextWakeup()
		c.SetTime(next)
	}
	<-done
	if got := c.Now(); !got.Equal(clockStart.Add(4 * time.Second)) {
		t.Errorf("Now() = %v after four one-second callbacks, want start+4s", got)
	}
}

func TestVirtualClockNextWakeup(t *testing.T) {
	tests := []struct {
		name   string
		arm    func(c *sim.VirtualClock)
		want   time.Duration
		wantOK bool
	}{
		{name: "nothing armed", arm: func(*sim.VirtualClock) {}, wantOK: false},
		{name: "earliest timer wins", arm: func(c *sim.VirtualClock) {
			c.NewTimer(30 * time.Second)
			c.NewTimer(10 * time.Second)
			c.NewTimer(20 * time.Second)
		}, want: 10 * time.Second, wantOK: true},
		{name: "ticker counts", arm: func(c *sim.VirtualClock) {
			c.NewTimer(30 * time.Second)
			c.NewTicker(7 * time.Second)
		}, want: 7 * time.Second, wantOK: true},
		{name: "AfterFunc counts", arm: func(c *sim.VirtualClock) {
			c.NewTimer(30 * time.Second)
			c.AfterFunc(3*time.Second, func() {})
		}, want: 3 * time.Second, wantOK: true},
		{name: "a stopped timer does not count", arm: func(c *sim.VirtualClock) {
			c.NewTimer(30 * time.Second)
			c.NewTimer(time.Second).Stop()
		}, want: 30 * time.Second, wantOK: true},
		{name: "a fired timer does not count", arm: func(c *sim.VirtualClock) {
			c.NewTimer(0)
		}, wantOK: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := sim.NewVirtualClock(clockStart)
			tc.arm(c)
			got, ok := c.NextWakeup()
			if ok != tc.wantOK || (ok && !got.Equal(clockStart.Add(tc.want))) {
				t.Errorf("NextWakeup() = %v, %v; want start+%v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestVirtualClockSleep(t *testing.T) {
	c := sim.NewVirtualClock(clockStart)
	woke := make(chan time.Time)
	go func() {
		c.Sleep(time.Minute)
		woke <- c.Now()
	}()
	eventually(t, "the sleeper to arm its timer", func() bool { return c.Waiters() == 1 })
	c.Step(time.Minute)
	if got := <-woke; !got.Equal(clockStart.Add(time.Minute)) {
		t.Errorf("sleeper woke at %v, want start+1m", got)
	}
	c.Sleep(0) // must return at once
}

// Many goroutines arming, stopping and resetting while another moves the
// clock: run under -race this checks the locking, and it must not deadlock.
func TestVirtualClockConcurrentUse(t *testing.T) {
	c := sim.NewVirtualClock(clockStart)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				timer := c.NewTimer(time.Duration(i%5) * time.Millisecond)
				if i%2 == 0 {
					timer.Reset(time.Millisecond)
				} else {
					timer.Stop()
				}
				c.AfterFunc(time.Millisecond, func() { c.NewTimer(time.Second).Stop() })
				_ = c.Since(clockStart)
			}
		}()
	}
	stop := make(chan struct{})
	stepped := make(chan struct{})
	go func() {
		defer close(stepped)
		for {
			select {
			case <-stop:
				return
			default:
				c.Step(time.Millisecond)
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-stepped
}

// The reason the clock exists: client-go's delaying queue must run on it.
func TestVirtualClockDrivesClientGoDelayingQueue(t *testing.T) {
	c := sim.NewVirtualClock(clockStart)
	q := workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{Clock: c})
	defer q.ShutDown()

	q.AddAfter("job-a", 5*time.Second)
	eventually(t, "the queue to arm a timer for the item", func() bool {
		next, ok := c.NextWakeup()
		return ok && next.Equal(clockStart.Add(5*time.Second))
	})
	if n := q.Len(); n != 0 {
		t.Fatalf("Len() = %d before the delay passed, want 0", n)
	}
	c.SetTime(clockStart.Add(5 * time.Second))
	eventually(t, "the item to become ready", func() bool { return q.Len() == 1 })
	if item, _ := q.Get(); item != "job-a" {
		t.Errorf("Get() = %q, want job-a", item)
	}
}
