// Package cronjob is the CronJob controller: at each start time of a
// batch/v1 CronJob's schedule it creates a Job from the CronJob's template,
// applies the concurrency policy, prunes the Job history and keeps the
// CronJob's status. It creates and deletes Jobs only; their pods belong to
// the Job controller.
//
// One sync of a CronJob (sync.go), with the numbers used in comments
// throughout this package and in docs/cronjob.md:
//
//	handlers.go → workqueue → sync(key)
//	   1 load the CronJob (gone, or not ours → stop)
//	   2 list its Jobs by controller UID
//	   3 work on a copy
//	   4 delete finished Jobs beyond the history limits     history.go
//	   5 reconcile status.active: unexpected, completed,    active.go
//	     lastSuccessfulTime, missing
//	   6 stop if deleting, bad timeZone, suspended,
//	     unparseable or impossible schedule
//	   7 find the most recent due start time (the slot)     schedule.go
//	   8 none inside startingDeadlineSeconds → MissSchedule
//	   9 slot already handled → wait for the next
//	  10 concurrency: Forbid skips, Replace deletes
//	  11 create the Job <name>-<minutes since epoch>        create.go
//	  12 record it in status.active, lastScheduleTime;
//	     write the status once
//	  13 requeue at the next start time + 100 ms
//
// Time comes only from the injected clock, so tests and the simulator can
// run a day of schedules in milliseconds.
package cronjob
