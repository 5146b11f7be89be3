package sim

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Runner drives a simulation through virtual time. It alternates two moves:
//
//  1. settle: wait, in real time, until every participant has reacted to
//     what just happened (no watch event in flight, no AfterFunc callback
//     running, every Idle function true, and no write or timer change for
//     a short quiet spell);
//  2. jump: move the clock to the earliest armed deadline, which fires the
//     timers due then and wakes whoever waits on them.
//
// Because time only moves once the cluster is quiet, a stretch of virtual
// time in which nothing can happen costs nothing, and a run is as
// repeatable as the goroutines' reactions are: a controller never sees the
// clock jump past a deadline it has not armed yet.
type Runner struct {
	// Clock is the virtual clock every participant reads.
	Clock *VirtualClock
	// Cluster is the in-memory API server; nil when the participants talk
	// to something else (then only Idle and the clock tell quiescence).
	Cluster *Cluster
	// Idle holds one function per participant (controller, kubelet …) that
	// reports it has nothing to do until a timer fires.
	Idle []func() bool
	// OnStep, when set, runs after every settle: the place to print progress.
	OnStep func()
	// QuietFor is how long, in real time, nothing may change before the
	// cluster counts as settled. Informer handlers run a few goroutine hops
	// after a watch event is taken, so this must cover that gap on a busy
	// machine. Zero means DefaultQuietFor.
	QuietFor time.Duration
}

// DefaultQuietFor is the quiet spell a Runner waits for by default.
const DefaultQuietFor = 3 * time.Millisecond

// pollInterval is how often, in real time, a settling runner looks again.
const pollInterval = 200 * time.Microsecond

// ErrStalled means nothing is left to happen: no timer is armed and every
// participant is idle, yet the run's goal was not reached.
var ErrStalled = errors.New("simulation stalled: nothing is scheduled to happen")

// TimeoutError means the run's limit of virtual time passed first.
type TimeoutError struct{ Limit time.Duration }

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("gave up after %s of simulated time", e.Limit)
}

// RunUntil moves virtual time until done reports true, at most limit past
// the clock's time at the call. It returns nil once done, a *TimeoutError
// when the limit passes first, ErrStalled when nothing is left to happen,
// and ctx's error when ctx ends.
func (r *Runner) RunUntil(ctx context.Context, done func() bool, limit time.Duration) error {
	end := r.Clock.Now().Add(limit)
	for {
		if err := r.Settle(ctx); err != nil {
			return err
		}
		if r.OnStep != nil {
			r.OnStep()
		}
		if done() {
			return nil
		}
		next, ok := r.Clock.NextWakeup()
		if !ok {
			return ErrStalled
		}
		if next.After(end) {
			r.Clock.SetTime(end)
			if err := r.Settle(ctx); err != nil {
				return err
			}
			if r.OnStep != nil {
				r.OnStep()
			}
			if done() {
				return nil
			}
			return &TimeoutError{Limit: limit}
		}
		r.Clock.SetTime(next)
	}
}

// RunFor moves virtual time forward by d, settling at every wake-up on the
// way, and ends settled at exactly the clock's time at the call plus d.
func (r *Runner) RunFor(ctx context.Context, d time.Duration) error {
	end := r.Clock.Now().Add(d)
	err := r.RunUntil(ctx, func() bool { return false }, d)
	var timeout *TimeoutError
	switch {
	case errors.As(err, &timeout):
		return nil
	case errors.Is(err, ErrStalled):
		// Nothing else will happen: the rest of the stretch is empty.
		r.Clock.SetTime(end)
		return r.Settle(ctx)
	}
	return err
}

// Settle blocks until the simulation is quiet: see Runner.
func (r *Runner) Settle(ctx context.Context) error {
	quietFor := r.QuietFor
	if quietFor <= 0 {
		quietFor = DefaultQuietFor
	}
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var last snapshot
	var quietSince time.Time
	for {
		s, quiet := r.look()
		now := time.Now()
		switch {
		case !quiet:
			quietSince = time.Time{}
		case quietSince.IsZero() || s != last:
			quietSince = now
		case now.Sub(quietSince) >= quietFor:
			return nil
		}
		last = s
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}

// snapshot holds the counters that move whenever anything happens.
type snapshot struct {
	clockChanges uint64
	writes       uint64
}

// look reads the counters and whether every participant is at rest now.
func (r *Runner) look() (snapshot, bool) {
	s := snapshot{clockChanges: r.Clock.changeCount()}
	quiet := !r.Clock.busy()
	if r.Cluster != nil {
		s.writes = r.Cluster.Writes()
		quiet = quiet && r.Cluster.pendingWatchEvents() == 0
	}
	for _, idle := range r.Idle {
		quiet = quiet && idle()
	}
	return s, quiet
}
