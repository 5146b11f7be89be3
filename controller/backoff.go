package controller

import (
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// backoffRecord is what the controller remembers between syncs about a Job's
// recent failures, to space out replacements of failing pods (rule S4).
type backoffRecord struct {
	// failuresSinceSuccess counts failed pods that finished after the last
	// succeeded pod; it sets the exponent of the delay.
	failuresSinceSuccess int
	// lastFailure is when the most recent of those failures finished; the
	// delay runs from here, not from when the controller noticed it.
	lastFailure time.Time
}

// remaining returns how long new pods must still wait.
func (r backoffRecord) remaining(clk clock.PassiveClock) time.Duration {
	if r.failuresSinceSuccess == 0 {
		return 0
	}
	delay := podFailureDelay(r.failuresSinceSuccess)
	left := delay - clk.Since(r.lastFailure)
	return max(left, 0)
}

// podFailureDelay is PodFailureBackoffBase × 2^(n−1), capped at
// PodFailureBackoffMax: 10 s, 20 s, 40 s … 600 s.
func podFailureDelay(failures int) time.Duration {
	delay := PodFailureBackoffBase
	for i := 1; i < failures; i++ {
		delay *= 2
		if delay >= PodFailureBackoffMax {
			return PodFailureBackoffMax
		}
	}
	return min(delay, PodFailureBackoffMax)
}

// backoffStore holds one backoffRecord per Job UID. Records live only in
// memory: after a restart every Job starts with no delay, as upstream does.
type backoffStore struct {
	mu      sync.Mutex
	records map[types.UID]backoffRecord
}

func newBackoffStore() *backoffStore {
	return &backoffStore{records: map[types.UID]backoffRecord{}}
}

func (s *backoffStore) get(uid types.UID) backoffRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records[uid]
}

func (s *backoffStore) set(uid types.UID, r backoffRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[uid] = r
}

func (s *backoffStore) forget(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, uid)
}

// nextBackoffRecord folds the pods that finished since the last sync into the
// record. A success clears the failures that finished before it; failures
// that finished after the latest success still count.
func nextBackoffRecord(prev backoffRecord, newSucceeded, newFailed []*v1.Pod) backoffRecord {
	if len(newSucceeded) == 0 {
		next := prev
		for _, p := range newFailed {
			next.failuresSinceSuccess++
			if t := finishTime(p); t.After(next.lastFailure) {
				next.lastFailure = t
			}
		}
		return next
	}
	var lastSuccess time.Time
	for _, p := range newSucceeded {
		if t := finishTime(p); t.After(lastSuccess) {
			lastSuccess = t
		}
	}
	var next backoffRecord
	for _, p := range newFailed {
		if t := finishTime(p); t.After(lastSuccess) {
			next.failuresSinceSuccess++
			if t.After(next.lastFailure) {
				next.lastFailure = t
			}
		}
	}
	return next
}
