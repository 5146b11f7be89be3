package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	clientinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/clock"

	"github.com/kjob-dev/kjob/controller"
	"github.com/kjob-dev/kjob/informers"
	"github.com/kjob-dev/kjob/sim"
)

// waitTimeout bounds every wait on the real apiserver. It is generous
// because CI machines are shared; a passing test never waits this long.
const waitTimeout = 2 * time.Minute

// startKubelet runs one simulated kubelet for the whole suite, on real time:
// it registers its Nodes, binds every pending pod to them and runs the pods
// with the scripted runtime (or the exec runtime for pods without
// sim.kjob.dev/ annotations). One kubelet serves every namespace, as on a
// real cluster.
func startKubelet(client kubernetes.Interface) (stop func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	kubelet := sim.NewKubelet(client, clock.RealClock{}, sim.KubeletOptions{
		NodeCount:  2,
		StartDelay: 200 * time.Millisecond,
	})
	if err := kubelet.RegisterNodes(ctx); err != nil {
		cancel()
		return nil, fmt.Errorf("registering simulated nodes: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := kubelet.Run(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "integration: simulated kubelet: %v\n", err)
		}
	}()
	return func() {
		cancel()
		<-done
	}, nil
}

// runningController is one Job controller process, as far as a test can
// tell: its own informers, queues and in-memory state.
type runningController struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// stop ends the controller and waits until its workers have returned, as
// a process exit would. Nothing it held in memory survives.
func (r *runningController) stop() {
	r.once.Do(func() {
		r.cancel()
		<-r.done
	})
}

// controllerOption adjusts the controller's Config before it starts.
type controllerOption func(*controller.Config)

// startController runs the project's Job controller on the namespace ns
// only, so tests running in parallel never see each other's Jobs.
func startController(t *testing.T, client kubernetes.Interface, ns string, opts ...controllerOption) *runningController {
	t.Helper()
	ctx, cancel, factory := controllerSetup(t, client, ns)
	cfg := controller.Config{
		Client:      client,
		JobInformer: factory.Batch().V1().Jobs(),
		PodInformer: factory.Core().V1().Pods(),
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	ctrl, err := controller.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("controller.New: %v", err)
	}
	return runInTest(t, ctx, cancel, factory, func(ctx context.Context) { ctrl.Run(ctx, 5) })
}

// controllerSetup returns what a controller running in a test starts
// from: a context whose logger writes to the test's log, its cancel, and
// an informer factory limited to the namespace ns.
func controllerSetup(t *testing.T, client kubernetes.Interface, ns string) (context.Context, context.CancelFunc, clientinformers.SharedInformerFactory) {
	logger := ktesting.NewLogger(t, ktesting.NewConfig(ktesting.Verbosity(2)))
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), logger))
	return ctx, cancel, informers.NewFactory(client, 0, clientinformers.WithNamespace(ns))
}

// runInTest starts the informers and run (a controller's Run), and stops
// both when the test ends, or earlier through the returned handle.
func runInTest(t *testing.T, ctx context.Context, cancel context.CancelFunc, factory clientinformers.SharedInformerFactory, run func(context.Context)) *runningController {
	factory.Start(ctx.Done())
	r := &runningController{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		run(ctx)
		factory.Shutdown()
	}()
	t.Cleanup(r.stop)
	return r
}

// loadJob reads a Job manifest from testdata/.
func loadJob(t *testing.T, name string) *batchv1.Job {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	data, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(data, nil, nil)
	if err != nil {
		t.Fatalf("testdata/%s: %v", name, err)
	}
	job, ok := obj.(*batchv1.Job)
	if !ok {
		t.Fatalf("testdata/%s: a %T, want a Job", name, obj)
	}
	return job
}

func createJob(t *testing.T, client kubernetes.Interface, ns string, job *batchv1.Job) *batchv1.Job {
	t.Helper()
	job = job.DeepCopy()
	job.Namespace = ns
	created, err := client.BatchV1().Jobs(ns).Create(context.Background(), job, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating Job %s: %v", job.Name, err)
	}
	return created
}

// pollLatest reads a value with get every 100 ms until cond holds for it
// or waitTimeout has passed, and returns the last value read (the zero
// value if no read succeeded) with the error that ended the wait, if any.
// Failed reads are retried.
func pollLatest[T any](get func(context.Context) (T, error), cond func(T) bool) (T, error) {
	var last T
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, waitTimeout, true,
		func(ctx context.Context) (bool, error) {
			v, err := get(ctx)
			if err != nil {
				return false, nil
			}
			last = v
			return cond(v), nil
		})
	return last, err
}

// waitForJob polls the Job until cond holds and returns it.
func waitForJob(t *testing.T, client kubernetes.Interface, ns, name, what string, cond func(*batchv1.Job) bool) *batchv1.Job {
	t.Helper()
	last, err := pollLatest(func(ctx context.Context) (*batchv1.Job, error) {
		return client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	}, cond)
	if err != nil {
		t.Fatalf("Job %s/%s never got %s; last status: %+v", ns, name, what, statusOf(last))
	}
	return last
}

// waitForPods polls the namespace's pods until cond holds and returns them.
func waitForPods(t *testing.T, client kubernetes.Interface, ns, what string, cond func([]corev1.Pod) bool) []corev1.Pod {
	t.Helper()
	last, err := pollLatest(func(ctx context.Context) ([]corev1.Pod, error) {
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		return pods.Items, nil
	}, cond)
	if err != nil {
		t.Fatalf("pods of %s never %s; last seen: %s", ns, what, describePods(last))
	}
	return last
}

func statusOf(job *batchv1.Job) any {
	if job == nil {
		return "<none>"
	}
	return job.Status
}

func describePods(pods []corev1.Pod) string {
	s := fmt.Sprintf("%d pods", len(pods))
	for _, p := range pods {
		s += fmt.Sprintf("; %s %s finalizers=%v owners=%d deleting=%v", p.Name, p.Status.Phase,
			p.Finalizers, len(p.OwnerReferences), p.DeletionTimestamp != nil)
	}
	return s
}

func hasCondition(job *batchv1.Job, t batchv1.JobConditionType) bool {
	return conditionOf(job, t) != nil
}

func conditionOf(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		c := &job.Status.Conditions[i]
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

func hasFinalizer(pod *corev1.Pod) bool {
	for _, f := range pod.Finalizers {
		if f == controller.JobTrackingFinalizer {
			return true
		}
	}
	return false
}

// scripted returns a minimal Job whose pods the simulated kubelet runs from
// sim.kjob.dev/ annotations.
func scripted(name string, annotations map[string]string) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: annotations},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "work", Image: "busybox"}},
				},
			},
		},
	}
}
