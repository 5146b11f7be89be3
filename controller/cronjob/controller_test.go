package cronjob

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2/ktesting"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/kjob-dev/kjob/informers"
)

// TestRunWakesAtTheNextStartTime runs the whole controller (informers,
// handlers, queue, workers) on a fake clock: nothing happens until the
// clock reaches a start time, then the Job appears, and the timer is armed
// again for the next one.
func TestRunWakesAtTheNextStartTime(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	client := fake.NewClientset()
	clk := testingclock.NewFakeClock(created.Add(time.Minute))
	factory := informers.NewFactory(client, 0)
	ctrl, err := New(ctx, Config{
		Client:          client,
		CronJobInformer: factory.Batch().V1().CronJobs(),
		JobInformer:     factory.Batch().V1().Jobs(),
		Clock:           clk,
	})
	require.NoError(t, err)
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctrl.Run(ctx, 2)
	}()
	defer func() {
		cancel()
		<-done
		factory.Shutdown()
	}()

	_, err = client.BatchV1().CronJobs("default").Create(ctx, cronJob(), metav1.CreateOptions{})
	require.NoError(t, err)

	jobs := func() []string {
		list, err := client.BatchV1().Jobs("default").List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		var names []string
		for _, j := range list.Items {
			names = append(names, j.Name)
		}
		return names
	}
	// The first sync arms a timer for 00:05:00.1.
	require.Eventually(t, func() bool { return clk.HasWaiters() && ctrl.Idle() }, 10*time.Second, time.Millisecond)
	assert.Empty(t, jobs(), "nothing before the first start time")

	clk.SetTime(slot5)
	time.Sleep(20 * time.Millisecond)
	assert.Empty(t, jobs(), "the controller looks 100 ms after the start time")

	clk.SetTime(slot5.Add(NextScheduleDelta))
	require.Eventually(t, func() bool { return len(jobs()) == 1 }, 10*time.Second, time.Millisecond)
	assert.Equal(t, []string{nameAt(slot5)}, jobs())
	require.Eventually(t, func() bool {
		cj, err := client.BatchV1().CronJobs("default").Get(ctx, "hello", metav1.GetOptions{})
		return err == nil && cj.Status.LastScheduleTime != nil && len(cj.Status.Active) == 1
	}, 10*time.Second, time.Millisecond)

	clk.SetTime(slot10.Add(NextScheduleDelta))
	require.Eventually(t, func() bool { return len(jobs()) == 2 }, 10*time.Second, time.Millisecond)
	assert.ElementsMatch(t, []string{nameAt(slot5), nameAt(slot10)}, jobs())
}

// TestNewRequiresInformers: the constructor names what is missing.
func TestNewRequiresInformers(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	_, err := New(ctx, Config{Client: fake.NewClientset()})
	assert.ErrorContains(t, err, "CronJobInformer and JobInformer are required")
}
