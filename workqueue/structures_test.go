package workqueue

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFIFO drives the ring through growth, wrap-around and shrinking and
// checks it against a plain slice doing the same operations.
func TestFIFO(t *testing.T) {
	cases := []struct {
		name string
		// ops is a script: a positive n pushes n items, a negative n pops -n.
		ops []int
	}{
		{name: "fill the first ring exactly", ops: []int{minFIFOSlots, -minFIFOSlots}},
		{name: "grow past the first ring", ops: []int{3*minFIFOSlots + 1, -(3*minFIFOSlots + 1)}},
		{name: "wrap around without growing", ops: []int{10, -8, 10, -12}},
		{name: "grow while wrapped", ops: []int{12, -10, 30, -32}},
		{name: "shrink after a burst, then reuse", ops: []int{1000, -990, 50, -60}},
		{name: "alternate push and pop", ops: []int{1, -1, 1, -1, 2, -1, 2, -3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var f fifo[int]
			var want []int
			next := 0
			for _, n := range tc.ops {
				for ; n > 0; n-- {
					f.push(next)
					want = append(want, next)
					next++
				}
				for ; n < 0; n++ {
					require.Positive(t, f.len())
					assert.Equal(t, want[0], f.pop())
					want = want[1:]
				}
				require.Equal(t, len(want), f.len())
				require.LessOrEqual(t, f.len(), len(f.slots))
			}
		})
	}
}

func TestFIFOShrinksAfterBurst(t *testing.T) {
	var f fifo[int]
	for i := range 4096 {
		f.push(i)
	}
	for range 4096 - 3 {
		f.pop()
	}
	assert.LessOrEqual(t, len(f.slots), 4*minFIFOSlots, "a nearly empty ring keeps its burst-sized array")
}

func TestFIFOClearsPoppedSlots(t *testing.T) {
	var f fifo[*int]
	value := 1
	f.push(&value)
	f.pop()
	assert.Nil(t, f.slots[0], "a popped slot still references its item")
}

// TestWaitHeap pushes entries in a seeded random order, with repeats, and
// checks they pop in due order.
func TestWaitHeap(t *testing.T) {
	cases := []struct {
		name    string
		entries int
		// distinct bounds the number of different due times, to force ties.
		distinct int
	}{
		{name: "empty", entries: 0, distinct: 1},
		{name: "single", entries: 1, distinct: 1},
		{name: "all distinct", entries: 200, distinct: 1000},
		{name: "many ties", entries: 200, distinct: 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.entries)))
			var h waitHeap[int]
			var want []time.Duration
			for i := range tc.entries {
				due := time.Duration(rng.IntN(tc.distinct)) * time.Second
				h.push(waitEntry[int]{item: i, due: due})
				want = append(want, due)
			}
			slices.Sort(want)
			var got []time.Duration
			for len(h) > 0 {
				got = append(got, h.pop().due)
			}
			assert.Equal(t, want, got)
		})
	}
}

func TestExponentialDelay(t *testing.T) {
	const maxDuration = time.Duration(1<<63 - 1)
	cases := []struct {
		name     string
		base     time.Duration
		limit    time.Duration
		failures int
		want     time.Duration
	}{
		{name: "first failure waits base", base: time.Second, limit: time.Minute, failures: 0, want: time.Second},
		{name: "doubles per failure", base: time.Second, limit: time.Minute, failures: 5, want: 32 * time.Second},
		{name: "capped at limit", base: time.Second, limit: time.Minute, failures: 6, want: time.Minute},
		{name: "exactly the limit is allowed", base: time.Second, limit: 32 * time.Second, failures: 5, want: 32 * time.Second},
		{name: "largest representable doubling", base: 1, limit: maxDuration, failures: 62, want: 1 << 62},
		{name: "one more would overflow", base: 1, limit: maxDuration, failures: 63, want: maxDuration},
		{name: "far past overflow", base: 5 * time.Millisecond, limit: 1000 * time.Second, failures: 1 << 20, want: 1000 * time.Second},
		{name: "large base near overflow", base: maxDuration / 2, limit: maxDuration, failures: 1, want: maxDuration - 1},
		{name: "large base past overflow", base: maxDuration / 2, limit: maxDuration, failures: 2, want: maxDuration},
		{name: "zero base means no delay", base: 0, limit: time.Minute, failures: 10, want: 0},
		{name: "negative base means no delay", base: -time.Second, limit: time.Minute, failures: 3, want: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, exponentialDelay(tc.base, tc.limit, tc.failures))
		})
	}
}
