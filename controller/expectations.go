package controller

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"
)

// expectations remembers the pod creations and deletions this controller has
// asked for but not yet seen in its informer cache.
//
// Why: the cache lags the API. Right after creating 4 pods, a sync that only
// looked at the cache would see 0 pods and create 4 more. So manageJob runs
// only when every earlier write has been observed (or ExpectationsTimeout has
// passed, in case an event was lost).
//
// State is keyed by the Job's UID, not its name: a Job deleted and created
// again under the same name starts with clean expectations.
type expectations struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	// byJob holds, per Job UID, the writes still to be observed. A count may go
	// below zero when the cache reports more than we asked for (an update of a
	// terminating pod is reported as a deletion each time); below zero is as
	// good as zero, and the next expect call overwrites it.
	byJob map[types.UID]*pending
}

type pending struct {
	creations, deletions int64
	since                time.Time
}

func newExpectations(clk clock.PassiveClock) *expectations {
	return &expectations{clock: clk, byJob: map[types.UID]*pending{}}
}

// satisfied reports whether manageJob may act on the Job. A Job with no record
// (never synced, or after a controller restart) is satisfied.
func (e *expectations) satisfied(uid types.UID) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.byJob[uid]
	if !ok {
		return true
	}
	if p.creations <= 0 && p.deletions <= 0 {
		return true
	}
	return e.clock.Since(p.since) > ExpectationsTimeout
}

// expect records that the Job is about to create and delete that many pods,
// replacing whatever was recorded before. Only call it when satisfied.
func (e *expectations) expect(uid types.UID, creations, deletions int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.byJob[uid] = &pending{creations: int64(creations), deletions: int64(deletions), since: e.clock.Now()}
}

// creationObserved is called when the cache shows a new pod of the Job, or
// when a create failed (the pod will never show up).
func (e *expectations) creationObserved(uid types.UID) { e.lower(uid, 1, 0) }

// deletionObserved is called when the cache shows a pod of the Job going
// away (a deletionTimestamp counts), or when a delete failed.
func (e *expectations) deletionObserved(uid types.UID) { e.lower(uid, 0, 1) }

func (e *expectations) lower(uid types.UID, creations, deletions int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.byJob[uid]; ok {
		p.creations -= creations
		p.deletions -= deletions
	}
}

func (e *expectations) forget(uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byJob, uid)
}

// finalizerRemovals remembers, per Job UID, the pods whose tracking
// finalizer this controller asked to remove and whose update the cache has
// not shown yet. While a UID is listed, the pod is already accounted for in
// status.uncountedTerminatedPods and must not be counted a second time.
type finalizerRemovals struct {
	mu sync.Mutex
	// byJob: Job UID → pod UIDs with a removal in flight or unobserved.
	byJob map[types.UID]sets.Set[types.UID]
}

func newFinalizerRemovals() *finalizerRemovals {
	return &finalizerRemovals{byJob: map[types.UID]sets.Set[types.UID]{}}
}

func (f *finalizerRemovals) expect(job types.UID, pods ...types.UID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.byJob[job]
	if !ok {
		s = sets.New[types.UID]()
		f.byJob[job] = s
	}
	s.Insert(pods...)
}

// observed clears a pod once the cache shows it without the finalizer, or
// gone, or once the removal request failed.
func (f *finalizerRemovals) observed(job, pod types.UID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.byJob[job]; ok {
		s.Delete(pod)
		if s.Len() == 0 {
			delete(f.byJob, job)
		}
	}
}

// pending returns a copy of the pod UIDs still expected for the Job.
func (f *finalizerRemovals) pending(job types.UID) sets.Set[types.UID] {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byJob[job].Clone()
}

func (f *finalizerRemovals) forget(job types.UID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.byJob, job)
}
