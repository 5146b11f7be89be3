package workqueue

// Contract clauses about shutdown. See contract_test.go for the harness.

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestContractShutDownDrainsReadyItemsThenReportsShutdown(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, env testEnv) {
		q := env.newQueue(t, nil)
		q.Add("a")
		q.Add("b")
		q.ShutDown()
		require.True(t, q.ShuttingDown())

		mustGet(t, q, "a")
		mustGet(t, q, "b")
		item, shutdown := q.Get()
		assert.True(t, shutdown, "Get on an empty, shut down queue")
		assert.Empty(t, item)
		// Workers still finish what they hold.
		q.Done("a")
		q.Done("b")
	})
}

func TestContractShutDownWakesBlockedGet(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, env testEnv) {
		q := env.newQueue(t, nil)
		workers := []<-chan getResult{getAsync(q), getAsync(q)}
		for _, w := range workers {
			_, ok := returned(w)
			require.False(t, ok)
		}
		q.ShutDown()
		for _, w := range workers {
			r, ok := returned(w)
			require.True(t, ok, "a blocked Get stayed blocked after ShutDown")
			assert.True(t, r.shutdown)
		}
	})
}

func TestContractAddAfterShutDownIgnored(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, env testEnv) {
		q := env.newQueue(t, nil)
		q.ShutDown()
		q.Add("a")
		requireLen(t, q, 0)
		_, shutdown := q.Get()
		assert.True(t, shutdown)
	})
}

func TestContractReAddBeforeShutDownRunsAfterDone(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, env testEnv) {
		q := env.newQueue(t, nil)
		q.Add("a")
		mustGet(t, q, "a")
		q.Add("a") // accepted: the queue is still running
		q.ShutDown()
		q.Done("a")
		// The run asked for before shutdown still happens.
		mustGet(t, q, "a")
		q.Done("a")
		_, shutdown := q.Get()
		assert.True(t, shutdown)
	})
}

func TestContractShutDownWithDrainWaitsForInFlight(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, env testEnv) {
		q := env.newQueue(t, nil)
		q.Add("a")
		q.Add("b")
		mustGet(t, q, "a")
		mustGet(t, q, "b")

		drained := make(chan struct{})
		go func() {
			q.ShutDownWithDrain()
			close(drained)
		}()
		synctest.Wait()
		require.True(t, q.ShuttingDown(), "shutdown starts before the wait")
		q.Add("c")
		requireLen(t, q, 0)

		q.Done("a")
		synctest.Wait()
		select {
		case <-drained:
			t.Fatal("ShutDownWithDrain returned while b was still in flight")
		default:
		}
		q.Done("b")
		synctest.Wait()
		select {
		case <-drained:
		default:
			t.Fatal("ShutDownWithDrain still waiting after every item was Done")
		}
	})
}

func TestContractShutDownEndsDrainWait(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, env testEnv) {
		q := env.newQueue(t, nil)
		q.Add("a")
		mustGet(t, q, "a")
		drained := make(chan struct{})
		go func() {
			q.ShutDownWithDrain()
			close(drained)
		}()
		synctest.Wait()
		q.ShutDown()
		synctest.Wait()
		select {
		case <-drained:
		default:
			t.Fatal("ShutDown did not end the drain wait of a worker that never finishes")
		}
	})
}

func TestContractAddAfterAfterShutDownIgnored(t *testing.T) {
	t.Run("requests made after shutdown", func(t *testing.T) {
		forEachImplementation(t, func(t *testing.T, env testEnv) {
			q := env.newQueue(t, nil)
			q.ShutDown()
			q.AddAfter("later", time.Second)
			q.AddAfter("now", 0)
			q.AddRateLimited("limited")
			env.step(time.Minute)
			requireLen(t, q, 0)
			_, shutdown := q.Get()
			assert.True(t, shutdown)
		})
	})
	t.Run("requests still waiting at shutdown", func(t *testing.T) {
		forEachImplementation(t, func(t *testing.T, env testEnv) {
			q := env.newQueue(t, nil)
			q.AddAfter("a", time.Second)
			synctest.Wait()
			q.ShutDown()
			env.step(time.Minute)
			requireLen(t, q, 0)
			_, shutdown := q.Get()
			assert.True(t, shutdown)
		})
	})
}
