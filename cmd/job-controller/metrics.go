package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	clientworkqueue "k8s.io/client-go/util/workqueue"

	"github.com/kjob-dev/kjob/workqueue"
)

// queueLabel is the one label of every workqueue metric: the queue's name.
const queueLabel = "name"

// queueDurationBuckets run from 10 ns to 1000 s by factors of ten: the
// buckets dashboards written for kube-controller-manager expect.
var queueDurationBuckets = prometheus.ExponentialBuckets(1e-8, 10, 12)

// promQueueMetrics is a workqueue.MetricsProvider that records into
// Prometheus vectors, one series per queue name, under the metric names
// client-go's queues have in every Kubernetes component.
type promQueueMetrics struct {
	depth        *prometheus.GaugeVec
	adds         *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	workDuration *prometheus.HistogramVec
	unfinished   *prometheus.GaugeVec
	longest      *prometheus.GaugeVec
	retries      *prometheus.CounterVec
}

var _ workqueue.MetricsProvider = (*promQueueMetrics)(nil)

// newPromQueueMetrics creates the vectors and registers them with reg.
func newPromQueueMetrics(reg prometheus.Registerer) (*promQueueMetrics, error) {
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Subsystem: "workqueue", Name: name, Help: help}, []string{queueLabel})
	}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Subsystem: "workqueue", Name: name, Help: help}, []string{queueLabel})
	}
	histogram := func(name, help string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Subsystem: "workqueue", Name: name, Help: help,
			Buckets: queueDurationBuckets}, []string{queueLabel})
	}
	m := &promQueueMetrics{
		depth:        gauge("depth", "Keys waiting in the queue to be handed to a worker."),
		adds:         counter("adds_total", "Keys added to the queue (re-adding a key already waiting counts once)."),
		latency:      histogram("queue_duration_seconds", "Seconds a key waits in the queue before a worker takes it."),
		workDuration: histogram("work_duration_seconds", "Seconds a worker spends on one key."),
		unfinished: gauge("unfinished_work_seconds",
			"Sum of the ages of the work in progress; growth with no completions suggests stuck workers."),
		longest: gauge("longest_running_processor_seconds", "Age of the oldest work in progress."),
		retries: counter("retries_total", "Keys put back for a later retry (rate-limited or delayed adds)."),
	}
	for _, c := range []prometheus.Collector{m.depth, m.adds, m.latency, m.workDuration, m.unfinished, m.longest, m.retries} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *promQueueMetrics) NewDepthMetric(name string) clientworkqueue.GaugeMetric {
	return m.depth.WithLabelValues(name)
}

func (m *promQueueMetrics) NewAddsMetric(name string) clientworkqueue.CounterMetric {
	return m.adds.WithLabelValues(name)
}

func (m *promQueueMetrics) NewLatencyMetric(name string) clientworkqueue.HistogramMetric {
	return m.latency.WithLabelValues(name)
}

func (m *promQueueMetrics) NewWorkDurationMetric(name string) clientworkqueue.HistogramMetric {
	return m.workDuration.WithLabelValues(name)
}

func (m *promQueueMetrics) NewUnfinishedWorkSecondsMetric(name string) clientworkqueue.SettableGaugeMetric {
	return m.unfinished.WithLabelValues(name)
}

func (m *promQueueMetrics) NewLongestRunningProcessorSecondsMetric(name string) clientworkqueue.SettableGaugeMetric {
	return m.longest.WithLabelValues(name)
}

func (m *promQueueMetrics) NewRetriesMetric(name string) clientworkqueue.CounterMetric {
	return m.retries.WithLabelValues(name)
}

// newRegistry is the process's metrics registry: Go runtime and process
// metrics, plus the workqueue metrics returned for the queues.
func newRegistry() (*prometheus.Registry, *promQueueMetrics, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, nil, err
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, nil, err
	}
	queues, err := newPromQueueMetrics(reg)
	if err != nil {
		return nil, nil, err
	}
	return reg, queues, nil
}
