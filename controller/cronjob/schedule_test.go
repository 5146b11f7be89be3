package cronjob

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// utc parses "2006-01-02 15:04:05" (optionally with fractional seconds) in UTC.
func utc(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04:05.999", s, time.UTC)
	require.NoError(t, err)
	return v
}

func newYork(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	return loc
}

// TestFindDueSlot pins step 7 (which start time runs) and step 13 (when to
// look again) on fixed times. Times are UTC unless a zone is named;
// America/New_York is UTC-5 (EST) and from 8 March 2026 UTC-4 (EDT), back
// to EST on 1 November 2026.
func TestFindDueSlot(t *testing.T) {
	cases := []struct {
		name     string
		schedule string
		timeZone string
		created  string
		last     string // lastScheduleTime; "" for none
		deadline *int64 // startingDeadlineSeconds
		now      string

		wantSlot    string // "" for none
		wantMissed  int64
		wantErr     error
		wantRequeue time.Duration // 0: not checked
		wantLate    string        // missedSlot: the start time lost to the deadline
	}{
		{
			name: "nothing due before the first start time", schedule: "*/5 * * * *",
			created: "2026-03-01 00:00:00", now: "2026-03-01 00:04:59",
			wantRequeue: 1100 * time.Millisecond,
		},
		{
			name: "the creation time itself is not a start time", schedule: "*/5 * * * *",
			created: "2026-03-01 00:00:00", now: "2026-03-01 00:00:00",
			wantRequeue: 5*time.Minute + NextScheduleDelta,
		},
		{
			name: "a start time is due from its very instant", schedule: "*/5 * * * *",
			created: "2026-03-01 00:00:00", now: "2026-03-01 00:05:00",
			wantSlot: "2026-03-01 00:05:00", wantRequeue: 5*time.Minute + NextScheduleDelta,
		},
		{
			name: "woken 100 ms after the start time, as the requeue does", schedule: "*/5 * * * *",
			created: "2026-03-01 00:00:00", now: "2026-03-01 00:05:00.1",
			wantSlot: "2026-03-01 00:05:00", wantRequeue: 5 * time.Minute,
		},
		{
			name: "the last start time is handled: wait for the next", schedule: "*/5 * * * *",
			created: "2026-03-01 00:00:00", last: "2026-03-01 00:05:00", now: "2026-03-01 00:07:00",
			wantRequeue: 3*time.Minute + NextScheduleDelta,
		},
		{
			name: "clock jumped forward: of three missed start times only the latest runs", schedule: "*/5 * * * *",
			created: "2026-03-01 00:00:00", last: "2026-03-01 00:05:00", now: "2026-03-01 00:21:00",
			wantSlot: "2026-03-01 00:20:00", wantMissed: 3, wantRequeue: 4*time.Minute + NextScheduleDelta,
		},
		{
			name: "clock jumped backward behind lastScheduleTime: nothing is due, nothing runs twice", schedule: "*/5 * * * *",
			created: "2026-03-01 00:00:00", last: "2026-03-01 00:20:00", now: "2026-03-01 00:12:00",
			wantRequeue: 13*time.Minute + NextScheduleDelta,
		},
		{
			name: "exactly 100 missed start times", schedule: "* * * * *",
			created: "2026-03-01 00:00:00", now: "2026-03-01 01:40:00",
			wantSlot: "2026-03-01 01:40:00", wantMissed: 100,
		},
		{
			name: "more than 100 missed start times: still the latest one", schedule: "* * * * *",
			created: "2026-03-01 00:00:00", now: "2026-03-01 02:00:30",
			wantSlot: "2026-03-01 02:00:00", wantMissed: 120,
		},
		{
			name: "years of missed start times cost no more than a few", schedule: "* * * * *",
			created: "2020-01-01 00:00:00", now: "2026-03-01 12:34:56",
			wantSlot: "2026-03-01 12:34:00", wantMissed: 3242194,
		},
		{
			name: "startingDeadlineSeconds shortens the look-back", schedule: "* * * * *",
			created: "2026-03-01 00:00:00", last: "2026-03-01 00:00:00", deadline: ptr.To[int64](30), now: "2026-03-01 00:10:20",
			wantSlot: "2026-03-01 00:10:00",
		},
		{
			name: "a start time older than startingDeadlineSeconds is dropped (F20 b)", schedule: "1 0 * * *",
			created: "2026-02-01 00:00:00", last: "2026-02-28 00:01:00", deadline: ptr.To[int64](10), now: "2026-03-01 00:01:12",
			wantRequeue: 24*time.Hour - 12*time.Second + NextScheduleDelta, wantLate: "2026-03-01 00:01:00",
		},
		{
			name: "a start time inside startingDeadlineSeconds runs (F20 a)", schedule: "1 0 * * *",
			created: "2026-02-01 00:00:00", last: "2026-02-28 00:01:00", deadline: ptr.To[int64](10), now: "2026-03-01 00:01:04",
			wantSlot: "2026-03-01 00:01:00",
		},
		{
			name: "@every counts from the creation time", schedule: "@every 90m",
			created: "2026-03-01 00:00:00", now: "2026-03-01 04:00:00",
			wantSlot: "2026-03-01 03:00:00", wantMissed: 2, wantRequeue: 30*time.Minute + NextScheduleDelta,
		},
		{
			name: "@hourly", schedule: "@hourly",
			created: "2026-03-01 00:30:00", now: "2026-03-01 01:00:00",
			wantSlot: "2026-03-01 01:00:00",
		},
		{
			// The first gap (a day) overestimates the count across the
			// weekend; the latest start time is still found exactly.
			name: "weekdays only: the weekend does not hide Friday's start time", schedule: "0 9 * * 1-5",
			created: "2026-02-01 00:00:00", last: "2026-03-02 09:00:00", now: "2026-03-09 08:00:00",
			wantSlot: "2026-03-06 09:00:00", wantMissed: 6, wantRequeue: time.Hour + NextScheduleDelta,
		},
		{
			name: "Feb 30 never comes: invalid, not merely late", schedule: "0 0 30 2 *",
			created: "2026-01-01 00:00:00", now: "2026-03-01 00:00:00",
			wantErr: errNoStartTime,
		},
		{
			name: "Feb 29 comes in leap years", schedule: "0 0 29 2 *",
			created: "2026-01-01 00:00:00", now: "2028-02-29 00:00:00.1",
			wantSlot: "2028-02-29 00:00:00",
		},
		{
			name: "timeZone: 09:00 in New York is 14:00 UTC in winter", schedule: "0 9 * * *", timeZone: "America/New_York",
			created: "2026-03-02 00:00:00", now: "2026-03-02 14:00:00.1",
			wantSlot: "2026-03-02 14:00:00",
		},
		{
			name: "timeZone: and 13:00 UTC in summer", schedule: "0 9 * * *", timeZone: "America/New_York",
			created: "2026-06-01 00:00:00", now: "2026-06-01 13:00:00.1",
			wantSlot: "2026-06-01 13:00:00",
		},
		{
			name: "TZ= in the schedule wins over timeZone", schedule: "TZ=Asia/Tokyo 0 9 * * *", timeZone: "America/New_York",
			created: "2026-03-01 00:00:00", now: "2026-03-02 00:00:00.1",
			wantSlot: "2026-03-02 00:00:00",
		},
		{
			// 02:30 does not exist on 8 March in New York (02:00 EST
			// becomes 03:00 EDT): that day has no run at all.
			name: "DST spring forward: a start time in the skipped hour is skipped", schedule: "30 2 * * *", timeZone: "America/New_York",
			created: "2026-03-01 00:00:00", last: "2026-03-07 07:30:00", now: "2026-03-08 12:00:00",
			wantRequeue: 18*time.Hour + 30*time.Minute + NextScheduleDelta,
		},
		{
			name: "DST spring forward: the next day runs at 02:30 EDT", schedule: "30 2 * * *", timeZone: "America/New_York",
			created: "2026-03-01 00:00:00", last: "2026-03-07 07:30:00", now: "2026-03-09 06:30:00.1",
			wantSlot: "2026-03-09 06:30:00",
		},
		{
			// 01:30 happens twice on 1 November (EDT, then EST an hour
			// later); the cron library, and so upstream, runs both.
			name: "DST fall back: a start time in the repeated hour runs twice", schedule: "30 1 * * *", timeZone: "America/New_York",
			created: "2026-10-01 00:00:00", last: "2026-11-01 05:30:00", now: "2026-11-01 06:30:00.1",
			wantSlot: "2026-11-01 06:30:00", wantRequeue: 24*time.Hour - 100*time.Millisecond + NextScheduleDelta,
		},
		{
			name: "DST fall back: an hourly schedule runs every real hour", schedule: "0 * * * *", timeZone: "America/New_York",
			created: "2026-10-01 00:00:00", last: "2026-11-01 05:00:00", now: "2026-11-01 06:00:00.1",
			wantSlot: "2026-11-01 06:00:00",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cj := &batchv1.CronJob{
				ObjectMeta: metav1.ObjectMeta{Name: "cj", CreationTimestamp: metav1.NewTime(utc(t, tc.created))},
				Spec:       batchv1.CronJobSpec{Schedule: tc.schedule, StartingDeadlineSeconds: tc.deadline},
			}
			if tc.timeZone != "" {
				cj.Spec.TimeZone = ptr.To(tc.timeZone)
			}
			if tc.last != "" {
				cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(utc(t, tc.last)))
			}
			sched, err := parseSchedule(cj, time.UTC)
			require.NoError(t, err)
			now := utc(t, tc.now)

			due, err := findDueSlot(cj, sched, now, true)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			if tc.wantSlot == "" {
				assert.Nil(t, due.slot, "no start time due")
			} else if assert.NotNil(t, due.slot) {
				assert.Equal(t, utc(t, tc.wantSlot), due.slot.UTC())
			}
			assert.Equal(t, tc.wantMissed, due.missed, "missed")
			if tc.wantRequeue != 0 {
				d, ok := untilNextSlot(cj, sched, now)
				assert.True(t, ok)
				assert.Equal(t, tc.wantRequeue, d, "requeue")
			}
			if late := missedSlot(cj, sched, now); tc.wantLate != "" {
				if assert.NotNil(t, late, "the start time lost to the deadline") {
					assert.Equal(t, utc(t, tc.wantLate), late.UTC())
				}
			} else if due.slot == nil {
				assert.Nil(t, late, "no start time lost to the deadline")
			}
		})
	}
}

func TestParseSchedule(t *testing.T) {
	ny := newYork(t)
	from := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name, schedule string
		timeZone       *string
		defaultZone    *time.Location
		wantNext       time.Time
		wantErr        bool
	}{
		{name: "five fields in the default zone", schedule: "0 9 * * *", defaultZone: time.UTC, wantNext: from.Add(9 * time.Hour)},
		{name: "the default zone is the controller's", schedule: "0 9 * * *", defaultZone: ny, wantNext: from.Add(14 * time.Hour)},
		{name: "timeZone overrides the default", schedule: "0 9 * * *", timeZone: ptr.To("America/New_York"), defaultZone: time.UTC, wantNext: from.Add(14 * time.Hour)},
		{name: "CRON_TZ= prefix", schedule: "CRON_TZ=America/New_York 0 9 * * *", defaultZone: time.UTC, wantNext: from.Add(14 * time.Hour)},
		{name: "descriptor", schedule: "@daily", defaultZone: time.UTC, wantNext: from.Add(24 * time.Hour)},
		{name: "month and weekday names", schedule: "0 0 * mar mon", defaultZone: time.UTC, wantNext: from.Add(7 * 24 * time.Hour)},
		{name: "six fields are not standard cron", schedule: "0 0 9 * * *", wantErr: true},
		{name: "minute out of range", schedule: "61 * * * *", wantErr: true},
		{name: "empty", schedule: "", wantErr: true},
		{name: "unknown zone in TZ=", schedule: "TZ=Mars/Olympus 0 9 * * *", wantErr: true},
		{name: "unknown timeZone", schedule: "0 9 * * *", timeZone: ptr.To("Mars/Olympus"), wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cj := &batchv1.CronJob{Spec: batchv1.CronJobSpec{Schedule: tc.schedule, TimeZone: tc.timeZone}}
			sched, err := parseSchedule(cj, tc.defaultZone)
			if tc.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantNext, sched.Next(from).UTC())
		})
	}
}

func TestJobName(t *testing.T) {
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "hello"}}
	slot := time.Date(2026, 1, 1, 0, 5, 0, 0, time.UTC)
	assert.Equal(t, "hello-29453765", jobName(cj, slot), "minutes since the epoch")
	inNY := slot.In(newYork(t))
	assert.Equal(t, jobName(cj, slot), jobName(cj, inNY), "the name does not depend on the zone")
	assert.Equal(t, jobName(cj, slot), jobName(cj, slot.Add(59*time.Second)), "one name per minute")
}
