package controller

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseIntervals(t *testing.T) {
	cases := []struct {
		name      string
		in        string
		limit     int
		want      string
		wantTotal int
		wantErr   bool
	}{
		{name: "empty", in: "", limit: 5, want: "", wantTotal: 0},
		{name: "single index", in: "3", limit: 5, want: "3", wantTotal: 1},
		{name: "ranges and singles", in: "1,3-5,7", limit: 10, want: "1,3-5,7", wantTotal: 5},
		{name: "adjacent pair is written as two indexes", in: "2-3", limit: 10, want: "2,3", wantTotal: 2},
		{name: "touching intervals merge", in: "0-2,3,4-6", limit: 10, want: "0-6", wantTotal: 7},
		{name: "indexes past the limit are dropped", in: "0,2-8,9", limit: 5, want: "0,2-4", wantTotal: 4},
		{name: "everything past the limit", in: "5-9", limit: 5, want: "", wantTotal: 0},
		{name: "malformed elements are skipped", in: "0,x,2-1,-3,4", limit: 10, want: "0,4", wantTotal: 2, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseIntervals(tc.in, tc.limit)
			assert.Equal(t, tc.wantErr, err != nil, "error: %v", err)
			assert.Equal(t, tc.want, got.String())
			assert.Equal(t, tc.wantTotal, got.total())
		})
	}
}

func TestIntervalsWithIndexes(t *testing.T) {
	cases := []struct {
		name    string
		start   string
		add     []int
		want    string
		wantHas []int
		wantNot []int
	}{
		{name: "into nothing", add: []int{4, 2, 3}, want: "2-4", wantHas: []int{2, 3, 4}, wantNot: []int{1, 5}},
		{name: "bridges a gap", start: "0-2,4-6", add: []int{3}, want: "0-6", wantHas: []int{3}},
		{name: "extends at both ends", start: "3-5", add: []int{2, 6}, want: "2-6"},
		{name: "already present", start: "1,3-5,7", add: []int{4, 7}, want: "1,3-5,7", wantNot: []int{0, 2, 6, 8}},
		{name: "new interval in the middle", start: "0,9", add: []int{5}, want: "0,5,9", wantHas: []int{0, 5, 9}, wantNot: []int{4, 6}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start, err := parseIntervals(tc.start, 100)
			assert.NoError(t, err)
			got := start.withIndexes(tc.add...)
			assert.Equal(t, tc.want, got.String())
			assert.Equal(t, tc.start, start.String(), "the receiver is not modified")
			for _, ix := range tc.wantHas {
				assert.True(t, got.has(ix), "has %d", ix)
			}
			for _, ix := range tc.wantNot {
				assert.False(t, got.has(ix), "has %d", ix)
			}
		})
	}
}

func TestIntervalsUnionAndIntersection(t *testing.T) {
	cases := []struct {
		name          string
		a, b          string
		wantUnion     string
		wantIntersect int
	}{
		{name: "disjoint", a: "0-2", b: "5-6", wantUnion: "0-2,5,6", wantIntersect: 0},
		{name: "overlapping", a: "0-4,8", b: "3-9", wantUnion: "0-9", wantIntersect: 3},
		{name: "one inside the other", a: "0-9", b: "2,4-5", wantUnion: "0-9", wantIntersect: 3},
		{name: "interleaved", a: "0,2,4,6", b: "1-2,5-6", wantUnion: "0-2,4-6", wantIntersect: 2},
		{name: "empty side", a: "", b: "1-3", wantUnion: "1-3", wantIntersect: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := parseIntervals(tc.a, 100)
			b, _ := parseIntervals(tc.b, 100)
			assert.Equal(t, tc.wantUnion, a.union(b).String())
			assert.Equal(t, tc.wantIntersect, a.intersectionSize(b))
			assert.Equal(t, tc.wantIntersect, b.intersectionSize(a), "symmetric")
		})
	}
}
