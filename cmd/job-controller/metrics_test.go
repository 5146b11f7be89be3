package main

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/kjob-dev/kjob/controller"
	"github.com/kjob-dev/kjob/workqueue"
)

// The names client-go's queues are known by in every Kubernetes component.
var queueMetricNames = []string{
	"workqueue_depth",
	"workqueue_adds_total",
	"workqueue_queue_duration_seconds",
	"workqueue_work_duration_seconds",
	"workqueue_unfinished_work_seconds",
	"workqueue_longest_running_processor_seconds",
	"workqueue_retries_total",
}

// TestQueueMetricsScrape drives a queue of each implementation through the
// provider and reads the results back from /metrics, as Prometheus would.
func TestQueueMetricsScrape(t *testing.T) {
	for _, impl := range []workqueue.Implementation{workqueue.ImplementationKjob, workqueue.ImplementationClientGo} {
		t.Run(string(impl), func(t *testing.T) {
			reg, provider, err := newRegistry()
			require.NoError(t, err)
			mux := newMux(reg, []healthCheck{ping}, []healthCheck{ping})
			clk := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			q := controller.NewQueueFactoryWithMetrics(impl, provider)("job", clk)
			defer q.ShutDown()

			q.Add("ns/a")
			q.Add("ns/b")
			q.Add("ns/a") // already waiting: not counted again
			fams := scrape(t, mux)
			for _, name := range queueMetricNames {
				assert.Contains(t, fams, name)
			}
			assertSample(t, fams, "workqueue_adds_total", "job", 2)
			assertSample(t, fams, "workqueue_depth", "job", 2)

			clk.Step(3 * time.Second)
			key, _ := q.Get()
			assert.Equal(t, "ns/a", key)
			// Sampling of running work happens on the queue's clock.
			require.Eventually(t, func() bool {
				clk.Step(500 * time.Millisecond)
				v, _ := queueSample(scrape(t, mux), "workqueue_longest_running_processor_seconds", "job")
				return v > 0
			}, 10*time.Second, 10*time.Millisecond)
			unfinished, _ := queueSample(scrape(t, mux), "workqueue_unfinished_work_seconds", "job")
			assert.Positive(t, unfinished)
			q.AddRateLimited(key)
			q.Done(key)

			fams = scrape(t, mux)
			assertSample(t, fams, "workqueue_depth", "job", 1)
			assertSample(t, fams, "workqueue_retries_total", "job", 1)
			assertSample(t, fams, "workqueue_queue_duration_seconds", "job", 1)
			assertSample(t, fams, "workqueue_work_duration_seconds", "job", 1)
			waited := histogramSum(t, fams, "workqueue_queue_duration_seconds")
			assert.InDelta(t, 3.0, waited, 1e-9, "measured on the queue's clock")
			assert.Contains(t, fams, "go_goroutines", "runtime metrics are served too")
		})
	}
}

func TestQueueMetricsRegisterOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, err := newPromQueueMetrics(reg)
	require.NoError(t, err)
	_, err = newPromQueueMetrics(reg)
	assert.Error(t, err, "a second provider on one registry would report the same series twice")
}

func assertSample(t *testing.T, fams map[string]*dto.MetricFamily, metric, queue string, want float64) {
	t.Helper()
	got, ok := queueSample(fams, metric, queue)
	require.True(t, ok, "%s{name=%q} missing", metric, queue)
	assert.Equal(t, want, got, "%s{name=%q}", metric, queue)
}

func histogramSum(t *testing.T, fams map[string]*dto.MetricFamily, metric string) float64 {
	t.Helper()
	fam := fams[metric]
	require.NotNil(t, fam)
	require.Len(t, fam.GetMetric(), 1)
	return fam.GetMetric()[0].GetHistogram().GetSampleSum()
}
