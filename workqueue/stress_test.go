package workqueue

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
)

// stressSeed fixes the producers' and workers' choices. Goroutine scheduling
// still varies from run to run; the seed makes a failing mix of operations
// easy to run again.
const stressSeed = 20260101

// keyRecord is what the stress test knows about one key. Sequence numbers
// come from one shared counter, so they order events across goroutines.
type keyRecord struct {
	// holders counts workers currently between Get and Done for the key;
	// above 1 means the queue handed one key to two workers.
	holders atomic.Int32
	// lastAddRequest is the sequence number taken just before the latest
	// Add, AddAfter or AddRateLimited of the key.
	lastAddRequest atomic.Int64
	// lastRunStart is the sequence number taken just after the latest Get
	// that returned the key.
	lastRunStart atomic.Int64
}

// raiseTo sets v to n unless v is already larger.
func raiseTo(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if old >= n || v.CompareAndSwap(old, n) {
			return
		}
	}
}

// TestStress runs many producers and workers against each implementation and
// checks the two promises a controller depends on:
//
//   - never two workers on one key;
//   - every request is followed by a run: for each key, a run starts after
//     its last add request.
//
// It runs in a synctest bubble on the real clock: goroutines run truly in
// parallel (and under -race), but delays pass in virtual time, so the test
// does not wait for them and cannot hang on them.
func TestStress(t *testing.T) {
	size := struct{ keys, producers, workers, opsPerProducer, workerReAdds int }{
		keys: 64, producers: 4, workers: 4, opsPerProducer: 10000, workerReAdds: 2000,
	}
	if testing.Short() {
		size.opsPerProducer, size.workerReAdds = 1000, 200
	}
	t.Logf("seed %d, %+v", stressSeed, size)

	for _, impl := range Implementations() {
		t.Run("impl="+string(impl), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				limiter := NewItemExponentialFailureRateLimiter[int](time.Millisecond, 20*time.Millisecond)
				q := NewRateLimiting(limiter, Options{Implementation: impl})
				records := make([]keyRecord, size.keys)
				var sequence atomic.Int64
				// reAddBudget bounds how often workers re-add the key they
				// hold, so the run ends.
				var reAddBudget atomic.Int64
				reAddBudget.Store(int64(size.workerReAdds))

				var workers sync.WaitGroup
				for w := range size.workers {
					rng := rand.New(rand.NewPCG(stressSeed, uint64(1000+w)))
					workers.Go(func() {
						for {
							key, shutdown := q.Get()
							if shutdown {
								return
							}
							rec := &records[key]
							if rec.holders.Add(1) != 1 {
								t.Errorf("key %d handed to a second worker", key)
							}
							raiseTo(&rec.lastRunStart, sequence.Add(1))
							switch roll := rng.IntN(10); {
							case roll == 0 && reAddBudget.Add(-1) >= 0:
								raiseTo(&rec.lastAddRequest, sequence.Add(1))
								q.Add(key) // re-add while holding it
							case roll == 1 && reAddBudget.Add(-1) >= 0:
								raiseTo(&rec.lastAddRequest, sequence.Add(1))
								q.AddRateLimited(key)
							case roll < 5:
								q.Forget(key)
							}
							rec.holders.Add(-1)
							q.Done(key)
						}
					})
				}

				var producers sync.WaitGroup
				for p := range size.producers {
					rng := rand.New(rand.NewPCG(stressSeed, uint64(p)))
					producers.Go(func() {
						for range size.opsPerProducer {
							key := rng.IntN(size.keys)
							raiseTo(&records[key].lastAddRequest, sequence.Add(1))
							switch rng.IntN(4) {
							case 0, 1:
								q.Add(key)
							case 2:
								q.AddAfter(key, time.Duration(rng.IntN(5000))*time.Microsecond)
							case 3:
								q.AddRateLimited(key)
							}
						}
					})
				}
				producers.Wait()

				// Let every delay pass (virtual time moves only once all
				// goroutines are blocked), then wait for the workers to idle.
				time.Sleep(time.Hour)
				synctest.Wait()

				assert.Zero(t, q.Len(), "items left ready with idle workers")
				for key := range records {
					rec := &records[key]
					if requested := rec.lastAddRequest.Load(); requested > 0 {
						assert.Greater(t, rec.lastRunStart.Load(), requested,
							"key %d: no run started after its last add request", key)
					}
				}
				q.ShutDownWithDrain()
				workers.Wait()
				q.ShutDown() // client-go's delaying goroutine needs the full ShutDown to exit
			})
		})
	}
}
