package controller

import (
	"slices"
	"time"

	v1 "k8s.io/api/core/v1"
)

// The vocabulary of job-semantics.md §2, as predicates. Every count in the
// Job's status is built from these, so they are kept tiny and exact.

// isTerminal: the kubelet has written a final phase.
func isTerminal(p *v1.Pod) bool {
	return p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed
}

// isActive: the pod still runs (or will) and nobody asked it to stop.
func isActive(p *v1.Pod) bool {
	return !isTerminal(p) && p.DeletionTimestamp == nil
}

// isTerminating: asked to stop, but the kubelet has not reported the end yet.
func isTerminating(p *v1.Pod) bool {
	return p.DeletionTimestamp != nil && !isTerminal(p)
}

func isReady(p *v1.Pod) bool {
	c := podCondition(p, v1.PodReady)
	return c != nil && c.Status == v1.ConditionTrue
}

func podCondition(p *v1.Pod, t v1.PodConditionType) *v1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func hasTrackingFinalizer(p *v1.Pod) bool {
	return slices.Contains(p.Finalizers, JobTrackingFinalizer)
}

func filterPods(pods []*v1.Pod, keep func(*v1.Pod) bool) []*v1.Pod {
	var out []*v1.Pod
	for _, p := range pods {
		if keep(p) {
			out = append(out, p)
		}
	}
	return out
}

func countPods(pods []*v1.Pod, match func(*v1.Pod) bool) int32 {
	var n int32
	for _, p := range pods {
		if match(p) {
			n++
		}
	}
	return n
}

// sortForRemoval orders active pods so that the ones cheapest to lose come
// first (§5.21): unscheduled before scheduled, Pending before Unknown before
// Running, not ready before ready, ready for less time before longer, more
// restarts before fewer, newer before older. Deleting from the front throws
// away the least progress.
func sortForRemoval(pods []*v1.Pod) {
	slices.SortStableFunc(pods, func(a, b *v1.Pod) int {
		if less := removeFirst(a, b); less {
			return -1
		}
		if removeFirst(b, a) {
			return 1
		}
		return 0
	})
}

var phaseRank = map[v1.PodPhase]int{v1.PodPending: 0, v1.PodUnknown: 1, v1.PodRunning: 2}

// removeFirst reports whether a should be removed before b.
func removeFirst(a, b *v1.Pod) bool {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if ra, rb := phaseRank[a.Status.Phase], phaseRank[b.Status.Phase]; ra != rb {
		return ra < rb
	}
	if isReady(a) != isReady(b) {
		return !isReady(a)
	}
	if isReady(a) && isReady(b) {
		ta, tb := readySince(a), readySince(b)
		if !ta.Equal(tb) {
			return ta.After(tb) // ready for a shorter time
		}
	}
	if ra, rb := maxRestarts(a.Status.ContainerStatuses), maxRestarts(b.Status.ContainerStatuses); ra != rb {
		return ra > rb
	}
	if ra, rb := maxRestarts(a.Status.InitContainerStatuses), maxRestarts(b.Status.InitContainerStatuses); ra != rb {
		return ra > rb
	}
	ca, cb := a.CreationTimestamp, b.CreationTimestamp
	if ca.IsZero() != cb.IsZero() {
		return ca.IsZero()
	}
	return ca.After(cb.Time)
}

func readySince(p *v1.Pod) time.Time {
	if c := podCondition(p, v1.PodReady); c != nil {
		return c.LastTransitionTime.Time
	}
	return time.Time{}
}

func maxRestarts(statuses []v1.ContainerStatus) int32 {
	var m int32
	for _, s := range statuses {
		m = max(m, s.RestartCount)
	}
	return m
}

// finishTime is when pod stopped, for the replacement delay (§5.4): the last
// container finish when every container reported one, else when it stopped
// being ready, else when its deletion's grace period began, else its creation.
func finishTime(p *v1.Pod) time.Time {
	var last time.Time
	allFinished := len(p.Status.ContainerStatuses) > 0
	for _, s := range p.Status.ContainerStatuses {
		t := s.State.Terminated
		if t == nil || t.FinishedAt.IsZero() {
			allFinished = false
			break
		}
		if t.FinishedAt.After(last) {
			last = t.FinishedAt.Time
		}
	}
	if allFinished {
		return last
	}
	if c := podCondition(p, v1.PodReady); c != nil && c.Status == v1.ConditionFalse && !c.LastTransitionTime.IsZero() {
		return c.LastTransitionTime.Time
	}
	if p.DeletionTimestamp != nil {
		grace := time.Duration(0)
		if p.DeletionGracePeriodSeconds != nil {
			grace = time.Duration(*p.DeletionGracePeriodSeconds) * time.Second
		}
		return p.DeletionTimestamp.Add(-grace)
	}
	return p.CreationTimestamp.Time
}
