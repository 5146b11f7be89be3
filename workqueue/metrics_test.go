package workqueue

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientworkqueue "k8s.io/client-go/util/workqueue"
)

// fakeMetricsProvider records every metric value, by metric kind, for
// queues of one name.
type fakeMetricsProvider struct {
	mu sync.Mutex
	// created lists "kind/queue name" for every metric asked for.
	created []string
	// values holds the current value of gauges and counters.
	values map[string]float64
	// observed holds every histogram observation, in order.
	observed map[string][]float64
}

func newFakeMetricsProvider() *fakeMetricsProvider {
	return &fakeMetricsProvider{values: map[string]float64{}, observed: map[string][]float64{}}
}

// fakeMetric is one metric of a fakeMetricsProvider; it implements every
// metric interface the provider hands out.
type fakeMetric struct {
	provider *fakeMetricsProvider
	kind     string
}

func (m fakeMetric) Inc() { m.add(1) }
func (m fakeMetric) Dec() { m.add(-1) }
func (m fakeMetric) add(d float64) {
	m.provider.mu.Lock()
	defer m.provider.mu.Unlock()
	m.provider.values[m.kind] += d
}

func (m fakeMetric) Set(v float64) {
	m.provider.mu.Lock()
	defer m.provider.mu.Unlock()
	m.provider.values[m.kind] = v
}

func (m fakeMetric) Observe(v float64) {
	m.provider.mu.Lock()
	defer m.provider.mu.Unlock()
	m.provider.observed[m.kind] = append(m.provider.observed[m.kind], v)
}

func (p *fakeMetricsProvider) metric(kind, queueName string) fakeMetric {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.created = append(p.created, kind+"/"+queueName)
	return fakeMetric{provider: p, kind: kind}
}

func (p *fakeMetricsProvider) NewDepthMetric(name string) clientworkqueue.GaugeMetric {
	return p.metric("depth", name)
}
func (p *fakeMetricsProvider) NewAddsMetric(name string) clientworkqueue.CounterMetric {
	return p.metric("adds", name)
}
func (p *fakeMetricsProvider) NewLatencyMetric(name string) clientworkqueue.HistogramMetric {
	return p.metric("latency", name)
}
func (p *fakeMetricsProvider) NewWorkDurationMetric(name string) clientworkqueue.HistogramMetric {
	return p.metric("work_duration", name)
}
func (p *fakeMetricsProvider) NewUnfinishedWorkSecondsMetric(name string) clientworkqueue.SettableGaugeMetric {
	return p.metric("unfinished_work_seconds", name)
}
func (p *fakeMetricsProvider) NewLongestRunningProcessorSecondsMetric(name string) clientworkqueue.SettableGaugeMetric {
	return p.metric("longest_running_processor_seconds", name)
}
func (p *fakeMetricsProvider) NewRetriesMetric(name string) clientworkqueue.CounterMetric {
	return p.metric("retries", name)
}

func (p *fakeMetricsProvider) value(kind string) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.values[kind]
}

func (p *fakeMetricsProvider) observations(kind string) []float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]float64(nil), p.observed[kind]...)
}

func (p *fakeMetricsProvider) createdMetrics() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.created...)
}

func (e testEnv) newQueueWithMetrics(t *testing.T, name string, provider MetricsProvider) testQueue {
	t.Helper()
	q := NewRateLimiting(NewItemExponentialFailureRateLimiter[string](time.Second, time.Minute),
		Options{Name: name, Clock: e.clock, Implementation: e.impl, MetricsProvider: provider})
	t.Cleanup(q.ShutDown)
	return q
}

// TestMetrics walks one script through both implementations and checks they
// report the same numbers at every step.
func TestMetrics(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, env testEnv) {
		metrics := newFakeMetricsProvider()
		q := env.newQueueWithMetrics(t, "jobs", metrics)
		assert.ElementsMatch(t, []string{
			"depth/jobs", "adds/jobs", "latency/jobs", "work_duration/jobs",
			"unfinished_work_seconds/jobs", "longest_running_processor_seconds/jobs", "retries/jobs",
		}, metrics.createdMetrics())

		q.Add("a")
		q.Add("b")
		q.Add("a") // deduplicated: not an add
		assert.Equal(t, 2.0, metrics.value("adds"))
		assert.Equal(t, 2.0, metrics.value("depth"))

		env.step(2 * time.Second)
		mustGet(t, q, "a")
		assert.Equal(t, 1.0, metrics.value("depth"))
		assert.Equal(t, []float64{2}, metrics.observations("latency"), "seconds from Add to Get")

		env.step(3 * time.Second) // the sampler ticks: a has run 3s
		assert.Equal(t, 3.0, metrics.value("unfinished_work_seconds"))
		assert.Equal(t, 3.0, metrics.value("longest_running_processor_seconds"))

		mustGet(t, q, "b")
		env.step(time.Second) // a has run 4s, b 1s
		assert.Equal(t, 5.0, metrics.value("unfinished_work_seconds"))
		assert.Equal(t, 4.0, metrics.value("longest_running_processor_seconds"))

		q.Done("a")
		assert.Equal(t, []float64{4}, metrics.observations("work_duration"), "seconds from Get to Done")

		q.Add("b") // while b is processing: counts as an add and as depth at once
		assert.Equal(t, 3.0, metrics.value("adds"))
		assert.Equal(t, 1.0, metrics.value("depth"))
		env.step(time.Second)
		q.Done("b")
		assert.Equal(t, []float64{4, 2}, metrics.observations("work_duration"))
		mustGet(t, q, "b")
		assert.Equal(t, 0.0, metrics.value("depth"))
		assert.Equal(t, []float64{2, 5, 1}, metrics.observations("latency"), "b waited 1s from its re-add")
		q.Done("b")

		env.step(time.Second) // nothing runs any more
		assert.Equal(t, 0.0, metrics.value("unfinished_work_seconds"))
		assert.Equal(t, 0.0, metrics.value("longest_running_processor_seconds"))

		q.AddAfter("c", time.Second)
		q.AddAfter("d", 0)
		q.AddRateLimited("e")
		assert.Equal(t, 3.0, metrics.value("retries"), "every AddAfter and AddRateLimited")

		q.ShutDown()
		q.AddAfter("f", time.Second)
		assert.Equal(t, 3.0, metrics.value("retries"), "not after shutdown")
	})
}

// TestMetricsNeedNameAndProvider checks the rule both implementations share:
// without a name the provider is never asked for a metric, and without a
// provider nothing breaks.
func TestMetricsNeedNameAndProvider(t *testing.T) {
	cases := []struct {
		name         string
		queueName    string
		withProvider bool
		wantCreated  bool
	}{
		{name: "no name", queueName: "", withProvider: true, wantCreated: false},
		{name: "no provider", queueName: "jobs", withProvider: false, wantCreated: false},
		{name: "name and provider", queueName: "jobs", withProvider: true, wantCreated: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forEachImplementation(t, func(t *testing.T, env testEnv) {
				metrics := newFakeMetricsProvider()
				var provider MetricsProvider
				if tc.withProvider {
					provider = metrics
				}
				q := env.newQueueWithMetrics(t, tc.queueName, provider)
				q.Add("a")
				q.AddAfter("b", time.Second)
				env.step(time.Second)
				mustGet(t, q, "a")
				q.Done("a")
				require.Equal(t, tc.wantCreated, len(metrics.createdMetrics()) > 0, "metrics created")
			})
		})
	}
}
