package workqueue

import (
	"time"

	clientworkqueue "k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// unfinishedWorkPeriod is how often the gauges about running work are
// refreshed. They age continuously, so they are sampled, not event-driven.
const unfinishedWorkPeriod = 500 * time.Millisecond

// queueMetrics records the same measurements as client-go's queue, through
// the same MetricsProvider, so both implementations feed identical metrics:
//
//	depth                      items dirty and not yet handed out (a re-add
//	                           during processing counts from the Add)
//	adds                       Adds that made an item dirty
//	latency                    seconds from the first such Add to Get
//	work duration              seconds from Get to Done
//	unfinished work seconds    sum of the ages of all runs in progress
//	longest running processor  age of the oldest run in progress
//	retries                    AddAfter and AddRateLimited calls
//
// The queue calls every method with its mutex held, except retried: it only
// increments a counter, and the metric types are safe for concurrent use
// (client-go's queue calls them without a lock too). A nil *queueMetrics is
// valid and records nothing, so a queue without metrics pays one nil check
// per hook.
type queueMetrics[T comparable] struct {
	clock clock.PassiveClock

	depth                   clientworkqueue.GaugeMetric
	adds                    clientworkqueue.CounterMetric
	latency                 clientworkqueue.HistogramMetric
	workDuration            clientworkqueue.HistogramMetric
	unfinishedWorkSeconds   clientworkqueue.SettableGaugeMetric
	longestRunningProcessor clientworkqueue.SettableGaugeMetric
	retries                 clientworkqueue.CounterMetric

	// addedAt has an entry for each dirty item not yet handed out: when it
	// first became dirty. Get removes it.
	addedAt map[T]time.Time
	// startedAt has an entry for each item being processed: when Get handed
	// it out. Done removes it.
	startedAt map[T]time.Time
}

// newQueueMetrics returns nil (metrics off) unless both a name and a provider
// are given.
func newQueueMetrics[T comparable](provider MetricsProvider, name string, clk clock.PassiveClock) *queueMetrics[T] {
	if provider == nil || name == "" {
		return nil
	}
	return &queueMetrics[T]{
		clock:                   clk,
		depth:                   provider.NewDepthMetric(name),
		adds:                    provider.NewAddsMetric(name),
		latency:                 provider.NewLatencyMetric(name),
		workDuration:            provider.NewWorkDurationMetric(name),
		unfinishedWorkSeconds:   provider.NewUnfinishedWorkSecondsMetric(name),
		longestRunningProcessor: provider.NewLongestRunningProcessorSecondsMetric(name),
		retries:                 provider.NewRetriesMetric(name),
		addedAt:                 make(map[T]time.Time),
		startedAt:               make(map[T]time.Time),
	}
}

// added: the item just became dirty.
func (m *queueMetrics[T]) added(item T) {
	if m == nil {
		return
	}
	m.adds.Inc()
	m.depth.Inc()
	if _, ok := m.addedAt[item]; !ok {
		m.addedAt[item] = m.clock.Now()
	}
}

// started: Get handed the item to a worker.
func (m *queueMetrics[T]) started(item T) {
	if m == nil {
		return
	}
	m.depth.Dec()
	now := m.clock.Now()
	m.startedAt[item] = now
	if added, ok := m.addedAt[item]; ok {
		m.latency.Observe(now.Sub(added).Seconds())
		delete(m.addedAt, item)
	}
}

// finished: the worker called Done.
func (m *queueMetrics[T]) finished(item T) {
	if m == nil {
		return
	}
	if started, ok := m.startedAt[item]; ok {
		m.workDuration.Observe(m.clock.Since(started).Seconds())
		delete(m.startedAt, item)
	}
}

// retried: AddAfter or AddRateLimited was called on a running queue.
func (m *queueMetrics[T]) retried() {
	if m == nil {
		return
	}
	m.retries.Inc()
}

// sampleUnfinishedWork refreshes the two gauges about runs in progress.
func (m *queueMetrics[T]) sampleUnfinishedWork() {
	now := m.clock.Now()
	var total, oldest float64
	for _, started := range m.startedAt {
		age := now.Sub(started).Seconds()
		total += age
		oldest = max(oldest, age)
	}
	m.unfinishedWorkSeconds.Set(total)
	m.longestRunningProcessor.Set(oldest)
}

// reportUnfinishedWork samples the running-work gauges every
// unfinishedWorkPeriod until shutdown. It runs only when metrics are on.
func (q *queue[T]) reportUnfinishedWork() {
	defer q.background.Done()
	ticker := q.clock.NewTicker(unfinishedWorkPeriod)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C():
			q.mu.Lock()
			if !q.shuttingDown {
				q.metrics.sampleUnfinishedWork()
			}
			q.mu.Unlock()
		case <-q.stopped:
			return
		}
	}
}
