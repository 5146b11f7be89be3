package cronjob

import (
	"errors"
	"fmt"
	"strings"
	"time"
	// The zone database travels with the binary, so whether a timeZone is
	// known never depends on the files of the host (a scratch container
	// has none), as with the kube-apiserver and kube-controller-manager.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
)

// Schedules: what a CronJob's spec.schedule and spec.timeZone mean, and
// which of its start times ("slots") are due. Everything here is a pure
// function of the CronJob, the schedule and the time passed in, so the
// table tests can pin each rule on fixed times.

// loadTimeZone returns the zone named by spec.timeZone, or nil when it is
// unset.
func loadTimeZone(cj *batchv1.CronJob) (*time.Location, error) {
	if cj.Spec.TimeZone == nil {
		return nil, nil
	}
	return time.LoadLocation(*cj.Spec.TimeZone)
}

// namesZoneInSchedule reports whether spec.schedule carries its own zone
// (TZ=… or CRON_TZ=…). The test is a plain substring search for "TZ", the
// same loose test the API and the upstream controller apply.
func namesZoneInSchedule(cj *batchv1.CronJob) bool {
	return strings.Contains(cj.Spec.Schedule, "TZ")
}

// parseSchedule reads spec.schedule as standard cron (five fields, or a
// descriptor such as @hourly or @every 90m) in the CronJob's zone:
//
//   - a TZ= or CRON_TZ= prefix in the schedule wins, and spec.timeZone is
//     ignored (the caller warns with UnsupportedSchedule);
//   - otherwise spec.timeZone, which the caller has checked loads;
//   - otherwise defaultZone, the controller's Config.Location.
func parseSchedule(cj *batchv1.CronJob, defaultZone *time.Location) (cron.Schedule, error) {
	sched, err := cron.ParseStandard(cj.Spec.Schedule)
	if err != nil || namesZoneInSchedule(cj) {
		return sched, err
	}
	zone, err := loadTimeZone(cj)
	if err != nil {
		return nil, err
	}
	if zone == nil {
		zone = defaultZone
	}
	// @every schedules are fixed intervals and have no zone to set.
	if spec, ok := sched.(*cron.SpecSchedule); ok {
		spec.Location = zone
	}
	return sched, nil
}

// Errors that make a schedule unusable although it parses. The sync reports
// them as InvalidSchedule and waits for the CronJob to change.
var (
	// errNoStartTime: the schedule names a date that never comes, such as
	// "0 0 30 2 *"; the cron library gives up after five years.
	errNoStartTime = errors.New("the schedule has no start time within five years (does it name an impossible date, such as February 30?)")
	// errStartTimesTooClose: two start times less than a second apart.
	errStartTimesTooClose = errors.New("two consecutive start times are less than one second apart")
)

// dueSlot is where a CronJob stands against its schedule at one instant.
type dueSlot struct {
	// from is where the look-back started: lastScheduleTime, else the
	// creation time, moved up to now − startingDeadlineSeconds when that
	// is later and the deadline was honoured.
	from time.Time
	// slot is the most recent start time after from and not after now;
	// nil when none is due.
	slot *time.Time
	// missed estimates how many start times fell in (from, now]. It is
	// computed only when at least two are due and is 0 otherwise.
	missed int64
}

// findDueSlot is step 7 of the sync: the one start time worth running now.
// Older due start times are never run; missed only counts them.
//
// withDeadline makes the look-back stop at startingDeadlineSeconds, as the
// scheduling decision does; the requeue computation looks back without it.
func findDueSlot(cj *batchv1.CronJob, sched cron.Schedule, now time.Time, withDeadline bool) (dueSlot, error) {
	d := dueSlot{from: cj.CreationTimestamp.Time}
	if last := cj.Status.LastScheduleTime; last != nil {
		d.from = last.Time
	}
	if withDeadline && cj.Spec.StartingDeadlineSeconds != nil {
		if edge := now.Add(-time.Duration(*cj.Spec.StartingDeadlineSeconds) * time.Second); edge.After(d.from) {
			d.from = edge
		}
	}

	first := sched.Next(d.from)
	if first.IsZero() {
		return d, errNoStartTime
	}
	if now.Before(first) {
		return d, nil
	}
	second := sched.Next(first)
	if now.Before(second) {
		d.slot = &first
		return d, nil
	}
	// Two or more are due. Estimate their number from the first gap (a
	// schedule's gaps may differ: weekdays only, 6-16/4 …), and look for
	// the most recent one near where the estimate puts it.
	gap := int64(second.Sub(first).Round(time.Second).Seconds())
	if gap < 1 {
		return d, errStartTimesTooClose
	}
	d.missed = int64(now.Sub(first).Seconds())/gap + 1
	guess := first.Add(time.Duration((d.missed-2)*gap) * time.Second)
	latest := latestTick(sched, first, guess, now, time.Duration(gap)*time.Second)
	d.slot = &latest
	return d, nil
}

// latestTick returns the last start time in [first, now], walking forward
// from guess (first itself is a start time, guess need not be). When guess
// overshoots, because irregular gaps (weekdays only, 6-16/4 …) made the
// estimate too high, it backs off in doubling steps, never before first.
func latestTick(sched cron.Schedule, first, guess, now time.Time, step time.Duration) time.Time {
	for {
		if guess.Before(first) {
			guess = first
		}
		var latest time.Time
		if guess.Equal(first) {
			latest = first
		}
		for t := sched.Next(guess); !t.IsZero() && !t.After(now); t = sched.Next(t) {
			latest = t
		}
		if !latest.IsZero() {
			return latest
		}
		guess = guess.Add(-step)
		step *= 2
	}
}

// untilNextSlot is step 13: how long to wait before looking at the CronJob
// again, that is until the start time after the most recent due one (or
// after the look-back start when none is due), plus NextScheduleDelta.
// startingDeadlineSeconds plays no part. ok is false when the schedule has
// no next start time at all.
func untilNextSlot(cj *batchv1.CronJob, sched cron.Schedule, now time.Time) (d time.Duration, ok bool) {
	due, err := findDueSlot(cj, sched, now, false)
	base := due.from
	switch {
	case err != nil:
		base = now
	case due.slot != nil:
		base = *due.slot
	}
	next := sched.Next(base)
	if next.IsZero() {
		return 0, false
	}
	return next.Add(NextScheduleDelta).Sub(now), true
}

// missedSlot returns the start time that startingDeadlineSeconds made the
// controller drop, if any: the most recent due one when the look-back is
// not cut at the deadline. The sync calls it only after the look-back that
// honours the deadline found nothing, so a slot found here is late.
func missedSlot(cj *batchv1.CronJob, sched cron.Schedule, now time.Time) *time.Time {
	if cj.Spec.StartingDeadlineSeconds == nil {
		return nil
	}
	due, err := findDueSlot(cj, sched, now, false)
	if err != nil {
		return nil
	}
	return due.slot
}

// jobName is the name of the Job for one start time: the CronJob's name and
// the start time in minutes since the epoch. The same start time always
// gives the same name, so a slot can never produce two Jobs, whatever
// restarts or cache lags the controller goes through.
func jobName(cj *batchv1.CronJob, slot time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, slot.Unix()/60)
}
