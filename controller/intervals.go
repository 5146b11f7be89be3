package controller

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Indexed Jobs keep sets of completion indexes in their status
// (completedIndexes, failedIndexes) and in their success policy
// (succeededIndexes) as text: ascending, non-overlapping intervals joined by
// commas, such as "1,3-5,7". A set of 100 000 indexes that all succeeded is
// then one short string, "0-99999", instead of a list that would not fit in
// an object.
//
// intervals is that set in memory, already in that order.

// interval is the indexes first…last, both included.
type interval struct{ first, last int }

// intervals is an ascending list of disjoint, non-adjacent intervals.
type intervals []interval

// parseIntervals reads the text form, keeping only indexes below limit:
// indexes that fell out of range when an elastic Indexed Job shrank are
// dropped this way. The status is written only by controllers, so a malformed
// element is skipped (and reported in err) rather than failing the sync
// forever.
func parseIntervals(s string, limit int) (intervals, error) {
	if s == "" {
		return nil, nil
	}
	var out intervals
	var bad []string
	for _, part := range strings.Split(s, ",") {
		lo, hi, err := parseInterval(part)
		if err != nil {
			bad = append(bad, part)
			continue
		}
		if lo >= limit {
			continue
		}
		out = out.withInterval(interval{lo, min(hi, limit-1)})
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("skipped malformed index intervals %q in %q", bad, s)
	}
	return out, nil
}

func parseInterval(part string) (int, int, error) {
	first, last, isRange := strings.Cut(part, "-")
	lo, err := strconv.Atoi(first)
	if err != nil || lo < 0 {
		return 0, 0, fmt.Errorf("%q is not an index", first)
	}
	if !isRange {
		return lo, lo, nil
	}
	hi, err := strconv.Atoi(last)
	if err != nil || hi < lo {
		return 0, 0, fmt.Errorf("%q is not an interval", part)
	}
	return lo, hi, nil
}

// String writes the text form. A pair of neighbours is written "a,b", not
// "a-b", as the upstream controller does: the two forms mean the same, but
// tools compare the strings.
func (s intervals) String() string {
	var b strings.Builder
	for i, iv := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(iv.first))
		switch {
		case iv.last == iv.first+1:
			b.WriteByte(',')
			b.WriteString(strconv.Itoa(iv.last))
		case iv.last > iv.first:
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(iv.last))
		}
	}
	return b.String()
}

// total is the number of indexes in the set.
func (s intervals) total() int {
	n := 0
	for _, iv := range s {
		n += iv.last - iv.first + 1
	}
	return n
}

// has reports whether index ix is in the set.
func (s intervals) has(ix int) bool {
	i, _ := slices.BinarySearchFunc(s, ix, func(iv interval, ix int) int {
		switch {
		case iv.last < ix:
			return -1
		case iv.first > ix:
			return 1
		}
		return 0
	})
	return i < len(s) && s[i].first <= ix && ix <= s[i].last
}

// withIndexes returns the set with the indexes added; s is not modified.
func (s intervals) withIndexes(indexes ...int) intervals {
	out := slices.Clone(s)
	for _, ix := range indexes {
		out = out.withInterval(interval{ix, ix})
	}
	return out
}

// union returns the indexes in s or in o.
func (s intervals) union(o intervals) intervals {
	out := slices.Clone(s)
	for _, iv := range o {
		out = out.withInterval(iv)
	}
	return out
}

// withInterval adds iv in place, merging it with the intervals it overlaps
// or touches, and returns the (possibly moved) slice.
func (s intervals) withInterval(iv interval) intervals {
	// The first interval that ends at or after iv.first-1 is the first one
	// iv can merge with; everything before it stays as it is.
	i, _ := slices.BinarySearchFunc(s, iv.first-1, func(x interval, t int) int {
		if x.last < t {
			return -1
		}
		return 1
	})
	j := i
	for j < len(s) && s[j].first <= iv.last+1 {
		iv.first = min(iv.first, s[j].first)
		iv.last = max(iv.last, s[j].last)
		j++
	}
	return slices.Replace(s, i, j, iv)
}

// intersectionSize counts the indexes in both s and o.
func (s intervals) intersectionSize(o intervals) int {
	n, i, j := 0, 0, 0
	for i < len(s) && j < len(o) {
		if lo, hi := max(s[i].first, o[j].first), min(s[i].last, o[j].last); hi >= lo {
			n += hi - lo + 1
		}
		if s[i].last < o[j].last {
			i++
		} else {
			j++
		}
	}
	return n
}
