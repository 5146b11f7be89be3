package controller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	testingclock "k8s.io/utils/clock/testing"
)

func TestExpectations(t *testing.T) {
	clk := testingclock.NewFakeClock(testNow)
	e := newExpectations(clk)

	assert.True(t, e.satisfied("a"), "a Job never seen is satisfied")

	e.expect("a", 2, 0)
	assert.False(t, e.satisfied("a"), "creations not yet observed")
	e.creationObserved("a")
	assert.False(t, e.satisfied("a"), "one of two observed")
	e.creationObserved("a")
	assert.True(t, e.satisfied("a"), "all observed")

	e.expect("a", 0, 1)
	assert.False(t, e.satisfied("a"))
	e.deletionObserved("a")
	e.deletionObserved("a") // a terminating pod reports more than once
	assert.True(t, e.satisfied("a"), "below zero is as good as zero")
	e.expect("a", 1, 0)
	assert.False(t, e.satisfied("a"), "a new expectation overwrites the negative count")

	assert.True(t, e.satisfied("b"), "Jobs are independent")

	clk.Step(ExpectationsTimeout + time.Second)
	assert.True(t, e.satisfied("a"), "expectations expire so a lost event cannot block a Job forever")

	e.expect("a", 1, 0)
	e.forget("a")
	assert.True(t, e.satisfied("a"), "forget drops the record")
}

func TestFinalizerRemovals(t *testing.T) {
	f := newFinalizerRemovals()
	f.expect("job", "p1", "p2")
	assert.True(t, f.pending("job").Has("p1"))
	f.observed("job", "p1")
	assert.False(t, f.pending("job").Has("p1"))
	assert.True(t, f.pending("job").Has("p2"))
	pending := f.pending("job")
	pending.Insert("p9")
	assert.False(t, f.pending("job").Has("p9"), "pending returns a copy")
	f.forget("job")
	assert.Equal(t, 0, f.pending("job").Len())
}
