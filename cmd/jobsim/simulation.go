package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	clientworkqueue "k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/kjob-dev/kjob/controller"
	"github.com/kjob-dev/kjob/informers"
	"github.com/kjob-dev/kjob/sim"
	"github.com/kjob-dev/kjob/workqueue"
)

// simStart is the virtual time every simulation starts at. A fixed start
// makes runs repeatable: the same input prints the same timeline.
var simStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// simulation is one in-memory cluster with the Job controller and the
// simulated kubelet running on it, all on one virtual clock.
type simulation struct {
	clock    *sim.VirtualClock
	cluster  *sim.Cluster
	client   kubernetes.Interface
	kubelet  *sim.Kubelet
	progress *progressPrinter

	queue   workqueue.Implementation
	workers int
	// ctrl is the running Job controller and stopCtrl stops it, returning
	// once its workers and informers have ended. restartController
	// replaces both.
	ctrl     *controller.Controller
	stopCtrl func()
	// stopKubelet stops the kubelet and waits for it.
	stopKubelet func()

	// out is where progress lines go.
	out io.Writer
	// ttl deletes finished Jobs (ttl.go); timeline runs the scripted
	// actions of the Jobs (actions.go).
	ttl      *ttlRun
	timeline *timeline
	// cron runs CronJobs (cronjob.go).
	cron *cronRun
	// pods stops the run at --max-pods (podlimit.go).
	pods *podLimit
}

func newSimulation(ctx context.Context, o options, progress io.Writer) (*simulation, error) {
	impl, err := workqueue.ParseImplementation(o.queue)
	if err != nil {
		return nil, fmt.Errorf("--queue: %w", err)
	}
	clk := sim.NewVirtualClock(simStart)
	cluster := sim.NewCluster(clk, sim.WithRandomSeed(o.seed))
	pods := newPodLimit(o.maxPods)
	cluster.Fake().PrependReactor("create", "pods", pods.react)
	client := cluster.Client()
	kubeletOpts := sim.KubeletOptions{
		NodeCount:      o.nodes,
		DefaultRuntime: sim.RuntimeName(o.runtime),
		Log:            progress,
		Seed:           o.seed,
	}
	if err := kubeletOpts.Validate(); err != nil {
		return nil, err
	}
	s := &simulation{clock: clk, cluster: cluster, client: client,
		kubelet: sim.NewKubelet(client, clk, kubeletOpts), progress: newProgressPrinter(progress, simStart),
		queue: impl, workers: o.workers, out: progress, pods: pods}
	if err := s.startController(ctx, client); err != nil {
		return nil, err
	}
	if s.ttl, err = startTTLRun(ctx, client, clk, impl); err != nil {
		s.stopCtrl()
		return nil, err
	}
	if s.cron, err = startCronRun(ctx, s.cluster, clk, impl); err != nil {
		s.stopCtrl()
		s.ttl.stop()
		return nil, err
	}
	s.timeline = newTimeline(clk, client, progress, s.progress)
	kubeletCtx, cancelKubelet := context.WithCancel(ctx)
	kubeletDone := make(chan struct{})
	go func() {
		defer close(kubeletDone)
		_ = s.kubelet.Run(kubeletCtx)
	}()
	s.stopKubelet = func() {
		cancelKubelet()
		<-kubeletDone
	}
	return s, nil
}

// stop ends the controllers and the kubelet and waits until all have.
func (s *simulation) stop() {
	s.stopCtrl()
	s.ttl.stop()
	s.cron.stop()
	s.stopKubelet()
}

// startController starts a Job controller with informers and queues of its
// own, talking to the cluster through client.
func (s *simulation) startController(ctx context.Context, client kubernetes.Interface) error {
	ctx, cancel := context.WithCancel(ctx)
	factory := informers.NewFactory(client, 0)
	ctrl, err := controller.New(ctx, controller.Config{
		Client:      client,
		JobInformer: factory.Batch().V1().Jobs(),
		PodInformer: factory.Core().V1().Pods(),
		Clock:       s.clock,
		// Written into the cluster during the sync, stamped with virtual
		// time, so a run can list them as soon as it is quiet.
		Recorder: s.cluster.NewEventRecorder("job-controller"),
		NewQueue: clockQueues(s.clock, s.queue, jobRateLimiter),
	})
	if err != nil {
		cancel()
		return err
	}
	stop, err := runInformed(ctx, cancel, factory, func(ctx context.Context) { ctrl.Run(ctx, s.workers) })
	if err != nil {
		return err
	}
	s.ctrl, s.stopCtrl = ctrl, stop
	return nil
}

// clockQueues returns the QueueFactory of a simulation's controllers:
// queues of implementation impl, with the retry delays newLimiter gives,
// whose delays are timers on the virtual clock itself (sim.DelayOnClock), so
// that the runner sees every requeue a controller asks for from the moment
// it asks.
func clockQueues(clk *sim.VirtualClock, impl workqueue.Implementation, newLimiter func(clock.PassiveClock) clientworkqueue.TypedRateLimiter[string]) controller.QueueFactory {
	return func(name string, qclk clock.WithTicker) clientworkqueue.TypedRateLimitingInterface[string] {
		limiter := newLimiter(qclk)
		queue := workqueue.NewRateLimiting[string](limiter, workqueue.Options{Name: name, Clock: qclk, Implementation: impl})
		return sim.DelayOnClock(queue, limiter, clk)
	}
}

// jobRateLimiter is controller.NewRateLimiter in clockQueues' shape.
func jobRateLimiter(clock.PassiveClock) clientworkqueue.TypedRateLimiter[string] {
	return controller.NewRateLimiter()
}

// runInformed starts the informers of factory and waits for their caches,
// then runs run (a controller's Run) in a goroutine of its own, as the
// controller's own process would. stop cancels ctx, waits until run has
// returned and shuts the informers down. If a cache never syncs, ctx is
// cancelled and the error returned.
func runInformed(ctx context.Context, cancel context.CancelFunc, factory clientinformers.SharedInformerFactory, run func(context.Context)) (stop func(), err error) {
	factory.Start(ctx.Done())
	// Synced before run, so that run never waits, and never reports a
	// wait cut short, after a run that ended early (bad input).
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			cancel()
			factory.Shutdown()
			return nil, fmt.Errorf("informer cache for %v did not sync", typ)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx)
	}()
	return func() {
		cancel()
		<-done
		factory.Shutdown()
	}, nil
}

// restartController does what a restart of the controller's process does:
// the running controller stops, and a new one starts with nothing in
// memory, fresh informers and fresh queues. client is what the new one
// talks to; a sim.PodWatchLag's client gives it a cache that lags.
func (s *simulation) restartController(ctx context.Context, client kubernetes.Interface) error {
	s.stopCtrl()
	return s.startController(ctx, client)
}

// runner drives this simulation's clock until the cluster, the controllers,
// the kubelet and whatever idle adds have all settled.
func (s *simulation) runner(idle ...func() bool) *sim.Runner {
	// The controller is read at every call: a restart replaces it.
	ctrlIdle := func() bool { return s.ctrl.Idle() }
	return &sim.Runner{
		Clock:   s.clock,
		Cluster: s.cluster,
		Idle:    append([]func() bool{ctrlIdle, s.kubelet.Idle, s.ttl.ctrl.Idle, s.cron.ctrl.Idle}, idle...),
	}
}

// apply creates the objects as `kubectl create` would. The in-memory
// cluster defaults and validates Jobs like the apiserver, so a spec the
// apiserver would reject is rejected here, naming the field.
func (s *simulation) apply(ctx context.Context, manifests []manifest) error {
	for _, m := range manifests {
		switch obj := m.obj.(type) {
		case *batchv1.Job:
			if obj.Namespace == "" {
				obj.Namespace = metav1.NamespaceDefault
			}
			if deferred, err := s.timeline.schedule(ctx, m, obj); err != nil || deferred {
				if err != nil {
					return err
				}
				continue
			}
			if _, err := s.client.BatchV1().Jobs(obj.Namespace).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
				return badInput("%s: %s", m.describe(), describeAPIError(err))
			}
			s.progress.created(obj)
		case *batchv1.CronJob:
			if err := s.applyCronJob(ctx, m, obj); err != nil {
				return err
			}
		default:
			return badInput("%s: unsupported object", m.describe())
		}
	}
	return nil
}

// describeAPIError prints an Invalid error as "field: reason" lines.
func describeAPIError(err error) string {
	var status apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !asAPIStatus(err, &status) || status.Status().Details == nil {
		return err.Error()
	}
	var parts []string
	for _, c := range status.Status().Details.Causes {
		parts = append(parts, fmt.Sprintf("%s: %s", c.Field, c.Message))
	}
	return strings.Join(parts, "; ")
}

func asAPIStatus(err error, out *apierrors.APIStatus) bool {
	s, ok := err.(apierrors.APIStatus)
	if ok {
		*out = s
	}
	return ok
}

type outcome struct {
	allCompleted bool
}

// run drives virtual time until every Job has finished or limit passes.
func (s *simulation) run(ctx context.Context, limit time.Duration) (outcome, error) {
	runner := s.runner()
	runner.OnStep = func() {
		s.progress.step(ctx, s.client, s.clock.Now())
		s.ttl.printGone(s.out, s.progress, s.clock.Now())
	}
	runCtx, cancel := s.pods.bind(ctx)
	defer cancel()
	err := runner.RunUntil(runCtx, func() bool {
		done, _ := s.finished(ctx)
		return done
	}, limit)
	if limitErr := s.pods.err(); limitErr != nil {
		err = limitErr
	}
	s.progress.step(ctx, s.client, s.clock.Now())
	_, all := s.finished(ctx)
	return outcome{allCompleted: all && err == nil}, err
}

// finished reports whether every Job has a terminal condition, and whether
// all of them are Complete. Finished Jobs already deleted count by how they
// ended; the run goes on while a scripted action is due or a finished Job
// waits for its TTL.
func (s *simulation) finished(ctx context.Context) (done, allComplete bool) {
	jobs, err := s.client.BatchV1().Jobs(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil || s.timeline.pending() {
		return false, false
	}
	for i := range jobs.Items {
		if waitsForTTL(&jobs.Items[i]) {
			return false, false
		}
	}
	jobs.Items = append(jobs.Items, s.ttl.finishedAndGone()...)
	if len(jobs.Items) == 0 {
		return false, false
	}
	allComplete = true
	for i := range jobs.Items {
		switch jobStatus(&jobs.Items[i]) {
		case "Complete":
		case "Failed":
			allComplete = false
		default:
			return false, false
		}
	}
	return true, allComplete
}

// report prints the final state: tables, or a v1 List for -o json.
func (s *simulation) report(ctx context.Context, w io.Writer, format string) error {
	cronJobs, err := s.listCronJobs(ctx)
	if err != nil {
		return err
	}
	jobs, err := s.client.BatchV1().Jobs(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	pods, err := s.client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	slices.SortFunc(jobs.Items, func(a, b batchv1.Job) int { return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name) })
	sortPodsByCreation(pods.Items)
	if format == "json" {
		return printList(w, cronJobs, jobs.Items, pods.Items)
	}
	printCronJobs(w, cronJobs, s.clock.Now())
	fmt.Fprintln(w)
	fmt.Fprintln(w, "$ kubectl get jobs -o wide")
	printJobs(w, jobs.Items, s.clock.Now())
	fmt.Fprintln(w)
	fmt.Fprintln(w, "$ kubectl get pods -o wide")
	printPods(w, pods.Items, s.clock.Now())
	return nil
}

func printList(w io.Writer, cronJobs []batchv1.CronJob, jobs []batchv1.Job, pods []v1.Pod) error {
	// Items is never null, as kubectl prints an empty list: "items": [].
	list := &v1.List{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "List"}, Items: []runtime.RawExtension{}}
	add := func(obj runtime.Object, kind string, gv string) {
		obj.GetObjectKind().SetGroupVersionKind(schema.FromAPIVersionAndKind(gv, kind))
		list.Items = append(list.Items, runtime.RawExtension{Object: obj})
	}
	for i := range cronJobs {
		add(&cronJobs[i], "CronJob", "batch/v1")
	}
	for i := range jobs {
		add(&jobs[i], "Job", "batch/v1")
	}
	for i := range pods {
		add(&pods[i], "Pod", "v1")
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
