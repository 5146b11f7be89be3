package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/controller/cronjob"
	"github.com/kjob-dev/kjob/sim"
)

func simCronJob(name string, annotations map[string]string) *batchv1.CronJob {
	job := simJob("", ptr.To(defaultManagedBy))
	job.Spec.Completions, job.Spec.Parallelism = ptr.To[int32](1), ptr.To[int32](1)
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceDefault, Annotations: annotations},
		Spec: batchv1.CronJobSpec{
			Schedule:    "* * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: job.Spec},
		},
	}
}

// TestOptionalControllersOnSimulatedCluster runs the command with and
// without --enable-cronjob-controller and
// --enable-ttl-after-finished-controller. With them, the CronJob annotated
// for kjob gets a Job every minute (the unannotated one none: that needs
// --manage-unannotated-cronjobs), and a finished Job with
// ttlSecondsAfterFinished: 0 is deleted. Without them, neither happens.
func TestOptionalControllersOnSimulatedCluster(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		name := map[bool]string{true: "enabled", false: "disabled (the default)"}[enabled]
		t.Run(name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			c := newSimCluster(t, ctx)
			client := c.cluster.Client()
			for _, cj := range []*batchv1.CronJob{
				simCronJob("ours", map[string]string{cronjob.ManagedByAnnotation: defaultCronJobManagedBy}),
				simCronJob("unannotated", nil),
			} {
				_, err := client.BatchV1().CronJobs(cj.Namespace).Create(ctx, cj, metav1.CreateOptions{})
				require.NoError(t, err)
			}
			short := simJob("short-lived", ptr.To(defaultManagedBy))
			short.Spec.TTLSecondsAfterFinished = ptr.To[int32](0)
			c.create(t, ctx, short)

			var args []string
			if enabled {
				args = []string{"--enable-cronjob-controller", "--enable-ttl-after-finished-controller"}
			}
			r := c.start(t, ctx, args...)
			require.Eventually(t, func() bool { return c.leaseHolder(ctx) != "" }, realWait, 10*time.Millisecond, "the Lease is taken")
			cs := r.all.Load()
			assert.Equal(t, enabled, cs.cronJob != nil)
			assert.Equal(t, enabled, cs.ttl != nil)

			idle := []func() bool{cs.job.Idle, c.kubelet.Idle}
			if enabled {
				idle = append(idle, cs.cronJob.Idle, cs.ttl.Idle)
			}
			runner := &sim.Runner{Clock: c.clock, Cluster: c.cluster, Idle: idle}
			require.NoError(t, runner.RunFor(ctx, 3*time.Minute))

			jobs, err := client.BatchV1().Jobs(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			byCronJob := map[string]int{}
			for i := range jobs.Items {
				if ref := metav1.GetControllerOf(&jobs.Items[i]); ref != nil && ref.Kind == "CronJob" {
					byCronJob[ref.Name]++
				}
			}
			got, err := client.BatchV1().Jobs(metav1.NamespaceDefault).Get(ctx, short.Name, metav1.GetOptions{})
			if enabled {
				assert.Positive(t, byCronJob["ours"], "the annotated CronJob got Jobs")
				assert.Zero(t, byCronJob["unannotated"], "an unannotated CronJob is left to the built-in controller")
				assert.True(t, apierrors.IsNotFound(err), "the finished Job with a TTL of 0 is deleted: %v", err)
				fams := families(t, httpBody(t, r.base+"/metrics"))
				for _, queue := range []string{"cronjob", "ttl_jobs_to_delete"} {
					adds, ok := queueSample(fams, "workqueue_adds_total", queue)
					assert.True(t, ok && adds > 0, "queue %s reports metrics", queue)
				}
			} else {
				assert.Empty(t, byCronJob, "no CronJob runs")
				require.NoError(t, err, "the finished Job with a TTL stays")
				assert.True(t, hasCondition(got, batchv1.JobComplete), "it did finish")
			}
			r.shutDown(t)
			assert.Empty(t, c.leaseHolder(ctx), "the Lease is released once every controller has stopped")
		})
	}
}
