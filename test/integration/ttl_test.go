package integration

import (
	"context"
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
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/controller/ttl"
)

// startTTLController runs the project's TTL-after-finished controller on
// the namespace ns (kube-controller-manager's own is not running here).
func startTTLController(t *testing.T, client kubernetes.Interface, ns string) {
	t.Helper()
	ctx, cancel, factory := controllerSetup(t, client, ns)
	ctrl, err := ttl.New(ctx, ttl.Config{Client: client, JobInformer: factory.Batch().V1().Jobs()})
	if err != nil {
		cancel()
		t.Fatalf("ttl.New: %v", err)
	}
	runInTest(t, ctx, cancel, factory, func(ctx context.Context) { ctrl.Run(ctx, ttl.DefaultWorkers) })
}

// waitForJobGone waits until the Job no longer exists and returns when.
func waitForJobGone(t *testing.T, client kubernetes.Interface, ns, name string) time.Time {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, waitTimeout, true,
		func(ctx context.Context) (bool, error) {
			_, err := client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
	if err != nil {
		t.Fatalf("Job %s/%s was never deleted", ns, name)
	}
	return time.Now()
}

// TestTTLAfterFinished: finished Jobs with a TTL are deleted, pods and all,
// once the TTL has passed since they finished; a Job without one is kept.
func TestTTLAfterFinished(t *testing.T) {
	client := requireControlPlane(t)
	cases := []struct {
		name string
		ttl  int32
		fail bool
	}{
		{name: "completed, TTL 3 s", ttl: 3},
		{name: "failed, TTL 3 s", ttl: 3, fail: true},
		{name: "TTL 0: deleted as soon as finished", ttl: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t, client)
			startController(t, client, ns)
			startTTLController(t, client, ns)

			annotations := map[string]string{"sim.kjob.dev/duration": "200ms"}
			if tc.fail {
				annotations["sim.kjob.dev/exit-codes"] = "1"
			}
			job := scripted("expiring", annotations)
			job.Spec.TTLSecondsAfterFinished = ptr.To(tc.ttl)
			job.Spec.BackoffLimit = ptr.To[int32](0)
			kept := scripted("kept", map[string]string{"sim.kjob.dev/duration": "200ms"})
			job = createJob(t, client, ns, job)
			createJob(t, client, ns, kept)

			var finishedAt time.Time
			err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, waitTimeout, true,
				func(ctx context.Context) (bool, error) {
					j, err := client.BatchV1().Jobs(ns).Get(ctx, job.Name, metav1.GetOptions{})
					if apierrors.IsNotFound(err) {
						return true, nil
					}
					if err == nil && (hasCondition(j, batchv1.JobComplete) || hasCondition(j, batchv1.JobFailed)) && finishedAt.IsZero() {
						finishedAt = time.Now()
					}
					return false, nil
				})
			require.NoError(t, err, "the Job finished and was deleted")
			gone := time.Now()
			if tc.ttl > 0 {
				require.False(t, finishedAt.IsZero(), "the finished Job was seen before it went")
				// The condition's time has second precision; allow for it.
				assert.GreaterOrEqual(t, gone.Sub(finishedAt), time.Duration(tc.ttl)*time.Second-time.Second,
					"deleted no earlier than the TTL after finishing")
			}
			waitForPods(t, client, ns, "deleted with the Job", func(pods []corev1.Pod) bool {
				for _, p := range pods {
					if p.Labels[batchv1.JobNameLabel] == job.Name {
						return false
					}
				}
				return true
			})
			k, err := client.BatchV1().Jobs(ns).Get(context.Background(), kept.Name, metav1.GetOptions{})
			require.NoError(t, err, "a Job without a TTL is kept")
			assert.True(t, hasCondition(k, batchv1.JobComplete))
		})
	}
}
