package sim

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var runnerStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newTestRunner() (*Runner, *VirtualClock) {
	clk := NewVirtualClock(runnerStart)
	return &Runner{Clock: clk}, clk
}

func TestRunnerJumpsToTheNextDeadline(t *testing.T) {
	r, clk := newTestRunner()
	var fired atomic.Bool
	clk.AfterFunc(90*time.Second, func() { fired.Store(true) })

	err := r.RunUntil(context.Background(), fired.Load, time.Hour)

	require.NoError(t, err)
	assert.Equal(t, runnerStart.Add(90*time.Second), clk.Now(), "time stops at the deadline that made the goal true")
}

func TestRunnerFollowsAChainOfTimers(t *testing.T) {
	r, clk := newTestRunner()
	var steps atomic.Int32
	var arm func()
	arm = func() {
		if steps.Add(1) < 5 {
			clk.AfterFunc(10*time.Second, arm)
		}
	}
	clk.AfterFunc(10*time.Second, arm)

	err := r.RunUntil(context.Background(), func() bool { return steps.Load() == 5 }, time.Hour)

	require.NoError(t, err)
	assert.Equal(t, runnerStart.Add(50*time.Second), clk.Now())
}

func TestRunnerStopsAtTheLimit(t *testing.T) {
	r, clk := newTestRunner()
	clk.AfterFunc(2*time.Hour, func() {})

	err := r.RunUntil(context.Background(), func() bool { return false }, time.Hour)

	var timeout *TimeoutError
	require.ErrorAs(t, err, &timeout)
	assert.Equal(t, time.Hour, timeout.Limit)
	assert.Equal(t, runnerStart.Add(time.Hour), clk.Now(), "the clock ends exactly at the limit")
}

func TestRunnerReportsAStall(t *testing.T) {
	r, _ := newTestRunner()

	err := r.RunUntil(context.Background(), func() bool { return false }, time.Hour)

	assert.ErrorIs(t, err, ErrStalled)
}

func TestRunnerChecksTheGoalBeforeMovingTime(t *testing.T) {
	r, clk := newTestRunner()
	clk.AfterFunc(time.Minute, func() {})

	err := r.RunUntil(context.Background(), func() bool { return true }, time.Hour)

	require.NoError(t, err)
	assert.Equal(t, runnerStart, clk.Now())
}

// A participant that is still working must hold time still: here it arms
// its timer only after a real-time pause, and the runner must wait for it
// instead of declaring a stall.
func TestRunnerWaitsForBusyParticipants(t *testing.T) {
	r, clk := newTestRunner()
	var idle, fired atomic.Bool
	go func() {
		time.Sleep(30 * time.Millisecond)
		clk.AfterFunc(time.Second, func() { fired.Store(true) })
		idle.Store(true)
	}()
	r.Idle = []func() bool{idle.Load}

	err := r.RunUntil(context.Background(), fired.Load, time.Hour)

	require.NoError(t, err)
	assert.Equal(t, runnerStart.Add(time.Second), clk.Now())
}

func TestRunnerCallsOnStepAfterEverySettle(t *testing.T) {
	r, clk := newTestRunner()
	var seen []time.Time
	r.OnStep = func() { seen = append(seen, clk.Now()) }
	clk.AfterFunc(time.Second, func() {})
	clk.AfterFunc(3*time.Second, func() {})

	err := r.RunUntil(context.Background(), func() bool { return clk.Now().Equal(runnerStart.Add(3 * time.Second)) }, time.Hour)

	require.NoError(t, err)
	assert.Equal(t, []time.Time{runnerStart, runnerStart.Add(time.Second), runnerStart.Add(3 * time.Second)}, seen)
}

func TestRunForEndsExactlyAtTheEnd(t *testing.T) {
	cases := []struct {
		name  string
		timer time.Duration // 0: nothing armed at all
	}{
		{name: "a timer beyond the end", timer: 2 * time.Hour},
		{name: "a timer inside the stretch", timer: 10 * time.Minute},
		{name: "nothing armed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, clk := newTestRunner()
			if tc.timer > 0 {
				clk.AfterFunc(tc.timer, func() {})
			}
			require.NoError(t, r.RunFor(context.Background(), time.Hour))
			assert.Equal(t, runnerStart.Add(time.Hour), clk.Now())
		})
	}
}

func TestRunnerEndsWithTheContext(t *testing.T) {
	r, _ := newTestRunner()
	r.Idle = []func() bool{func() bool { return false }} // never settles
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	err := r.RunUntil(ctx, func() bool { return false }, time.Hour)

	assert.True(t, errors.Is(err, context.Canceled), "got %v", err)
}
