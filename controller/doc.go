// Package controller is the Job controller: it turns a batch/v1 Job into pods
// and keeps the Job's status honest about what those pods did.
//
// The data path, with the numbers used in comments throughout this package
// (see docs/architecture.md for the full diagram):
//
//	informers → handlers.go → workqueue → syncJob (sync.go)
//	  1 read the Job from the lister        5 set startTime, update the backoff record
//	  2 skip Jobs managed by someone else   6 decide whether the Job is finishing
//	  3 check expectations, claim pods      7 otherwise manageJob creates or deletes pods
//	  4 count the pods                      8 record status: uncounted → finalizers → counters
//
// Each Job feature lives in its own file: expectations.go, backoff.go,
// tracking.go, manage.go, claim.go, orphans.go, conditions.go …
package controller
