// Package workqueue is the controller's rate-limited work queue: a list of
// keys (for example namespace/name of a Job) that need their sync run, with
// three promises a controller relies on:
//
//   - deduplication: a key added many times before a worker takes it is run
//     once;
//   - one worker per key: a key is never handed to two workers at once; a key
//     added while a worker holds it is run again after that worker's Done;
//   - delays and backoff: AddAfter adds a key later, AddRateLimited adds it
//     after a delay chosen by a rate limiter, and Forget resets that delay.
//
// The queue satisfies client-go's workqueue.TypedRateLimitingInterface, and
// NewRateLimiting builds either this package's implementation or client-go's,
// so the same controller and the same contract tests run on both. The rate
// limiters satisfy client-go's TypedRateLimiter and work with either queue.
//
// See docs/workqueue.md for a walk-through of the design and its invariants.
package workqueue
