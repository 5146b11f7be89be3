package sim_test

import (
	"context"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/sim"
)

const testNamespace = "default"

func newTestCluster(t *testing.T) (*sim.Cluster, *sim.VirtualClock) {
	t.Helper()
	clk := sim.NewVirtualClock(clockStart)
	return sim.NewCluster(clk), clk
}

// testPod is a pod on a node, so that deleting it is graceful.
func testPod(name string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace, Labels: map[string]string{"app": "test"}},
		Spec: corev1.PodSpec{
			NodeName:      "node-1",
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "main", Image: "busybox"}},
		},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

// testJob is a minimal valid Job, before defaulting.
func testJob(name string, mutate ...func(*batchv1.Job)) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace},
		Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "main", Image: "busybox"}},
				},
			},
		},
	}
	for _, m := range mutate {
		m(j)
	}
	return j
}

// ownedBy makes a pod a dependent of the Job, as the Job controller does:
// a controller reference that blocks foreground deletion of its owner.
func ownedBy(job *batchv1.Job) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.OwnerReferences = append(p.OwnerReferences, metav1.OwnerReference{
			APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID,
			Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
		})
	}
}

func withFinalizers(names ...string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Finalizers = append(p.Finalizers, names...) }
}

func createPod(t *testing.T, c *sim.Cluster, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	out, err := c.Client().CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s: %v", pod.Name, err)
	}
	return out
}

func createJob(t *testing.T, c *sim.Cluster, job *batchv1.Job) *batchv1.Job {
	t.Helper()
	out, err := c.Client().BatchV1().Jobs(job.Namespace).Create(context.Background(), job, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating job %s: %v", job.Name, err)
	}
	return out
}

// getPod returns the stored pod, or nil when it is gone.
func getPod(t *testing.T, c *sim.Cluster, name string) *corev1.Pod {
	t.Helper()
	p, err := c.Client().CoreV1().Pods(testNamespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return p
}

func getJob(t *testing.T, c *sim.Cluster, name string) *batchv1.Job {
	t.Helper()
	j, err := c.Client().BatchV1().Jobs(testNamespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return j
}

func uidPtr(uid types.UID) *types.UID { return &uid }
