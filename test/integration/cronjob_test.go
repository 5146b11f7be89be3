package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/controller/cronjob"
)

// startCronJobController runs the project's CronJob controller on the
// namespace ns, on clk: the test decides when start times come.
func startCronJobController(t *testing.T, client kubernetes.Interface, ns string, clk *testingclock.FakeClock) {
	t.Helper()
	ctx, cancel, factory := controllerSetup(t, client, ns)
	ctrl, err := cronjob.New(ctx, cronjob.Config{
		Client:          client,
		CronJobInformer: factory.Batch().V1().CronJobs(),
		JobInformer:     factory.Batch().V1().Jobs(),
		Clock:           clk,
	})
	if err != nil {
		cancel()
		t.Fatalf("cronjob.New: %v", err)
	}
	runInTest(t, ctx, cancel, factory, func(ctx context.Context) { ctrl.Run(ctx, cronjob.DefaultWorkers) })
}

// TestCronJobOnTheAPIServer runs a CronJob against the real apiserver with
// kube-controller-manager's garbage collector, the project's Job controller
// and the simulated kubelet, while the CronJob controller's clock is a fake
// one that the test moves from start time to start time. Each Job gets the
// deterministic name, the scheduled-timestamp annotation and a controller
// reference; with successfulJobsHistoryLimit 2 the oldest finished Jobs are
// deleted, and the garbage collector takes their pods.
func TestCronJobOnTheAPIServer(t *testing.T) {
	client := requireControlPlane(t)
	t.Parallel()
	ctx := context.Background()
	ns := newNamespace(t, client)
	startController(t, client, ns)
	clk := testingclock.NewFakeClock(time.Now())
	startCronJobController(t, client, ns, clk)

	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "tick"},
		Spec: batchv1.CronJobSpec{
			Schedule:                   "*/1 * * * *",
			TimeZone:                   ptr.To("Asia/Tokyo"),
			SuccessfulJobsHistoryLimit: ptr.To[int32](2),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "tick"}},
				Spec:       scripted("unused", map[string]string{"sim.kjob.dev/duration": "100ms"}).Spec,
			},
		},
	}
	cj, err := client.BatchV1().CronJobs(ns).Create(ctx, cj, metav1.CreateOptions{})
	require.NoError(t, err)
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)

	// The start times after the creation: the next four whole minutes.
	first := cj.CreationTimestamp.Truncate(time.Minute).Add(time.Minute)
	var names []string
	for i := range 4 {
		slot := first.Add(time.Duration(i) * time.Minute)
		name := fmt.Sprintf("tick-%d", slot.Unix()/60)
		names = append(names, name)
		clk.SetTime(slot.Add(cronjob.NextScheduleDelta))

		job := waitForJob(t, client, ns, name, "Complete", func(j *batchv1.Job) bool { return hasCondition(j, batchv1.JobComplete) })
		assert.Equal(t, slot.In(tokyo).Format(time.RFC3339), job.Annotations[batchv1.CronJobScheduledTimestampAnnotation],
			"the start time, in the CronJob's zone")
		assert.Equal(t, "tick", job.Labels["app"], "the template's labels")
		ref := metav1.GetControllerOf(job)
		require.NotNil(t, ref)
		assert.Equal(t, metav1.OwnerReference{APIVersion: "batch/v1", Kind: "CronJob", Name: "tick", UID: cj.UID,
			Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}, *ref)

		waitForCronJob(t, client, ns, "tick", "status for "+name, func(cj *batchv1.CronJob) bool {
			return cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Equal(&metav1.Time{Time: slot}) &&
				len(cj.Status.Active) == 0 && cj.Status.LastSuccessfulTime != nil
		})
	}

	// Four Jobs ran; the two oldest were deleted in the background, and
	// the garbage collector removed their pods.
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		jobs, err := client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		return len(jobs.Items) == 2 && len(pods.Items) == 2, nil
	})
	require.NoError(t, err, "history pruned to two Jobs and their two pods")
	for _, name := range names[:2] {
		_, err := client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "%s deleted: %v", name, err)
	}
	pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, p := range pods.Items {
		assert.Contains(t, names[2:], p.Labels[batchv1.JobNameLabel], "pod %s belongs to a kept Job", p.Name)
		assert.Equal(t, corev1.PodSucceeded, p.Status.Phase)
	}

	events, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=CronJob,reason=SuccessfulDelete"})
	require.NoError(t, err)
	assert.NotEmpty(t, events.Items, "SuccessfulDelete events on the CronJob")
}

// waitForCronJob polls the CronJob until cond holds and returns it.
func waitForCronJob(t *testing.T, client kubernetes.Interface, ns, name, what string, cond func(*batchv1.CronJob) bool) *batchv1.CronJob {
	t.Helper()
	var last *batchv1.CronJob
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, waitTimeout, true,
		func(ctx context.Context) (bool, error) {
			cj, err := client.BatchV1().CronJobs(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			last = cj
			return cond(cj), nil
		})
	if err != nil {
		var status any = "<none>"
		if last != nil {
			status = last.Status
		}
		t.Fatalf("CronJob %s/%s never got %s; last status: %+v", ns, name, what, status)
	}
	return last
}
