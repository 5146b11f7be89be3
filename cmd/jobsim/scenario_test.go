package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/controller"
	"github.com/kjob-dev/kjob/sim"
)

// scenario plays a field report end to end: the Job controller and the
// simulated kubelet of a simulation, on its virtual clock, driven by a
// runner that checks the invariants after every step. Pods behave as the
// sim.kjob.dev/ annotations of their Job's template say; nothing is faked
// by hand unless a report needs a pod nobody would create.
//
// Reading the expected times: a pod starts 1 s after its creation unless
// its script says otherwise, and the controller syncs 1 s after the pod
// events or status-only Job updates (its own included) that wake it. The
// API keeps server-set timestamps to the second, as the apiserver does, so
// scripts whose gaps a test measures keep pod exits on whole seconds, and
// every script keeps the kubelet's moments apart from the controller's.
type scenario struct {
	t   *testing.T
	ctx context.Context
	sim *simulation
	// lag is the controller's view of pods; it lags only once a test adds
	// a delay.
	lag    *sim.PodWatchLag
	runner *sim.Runner
	inv    *invariants
}

func newScenario(t *testing.T) *scenario {
	t.Helper()
	// Verbosity 2 keeps the controller's and kubelet's decisions in the
	// output of a failing test without drowning it.
	logger := ktesting.NewLogger(t, ktesting.NewConfig(ktesting.Verbosity(2)))
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), logger))
	s, err := newSimulation(ctx, options{queue: "kjob", seed: 1, nodes: 3, runtime: string(sim.RuntimeScripted),
		workers: controller.DefaultWorkers}, io.Discard)
	require.NoError(t, err)
	t.Cleanup(func() {
		cancel()
		s.stop()
	})
	sc := &scenario{t: t, ctx: ctx, sim: s, lag: sim.NewPodWatchLag(s.clock)}
	// The controller always sees pods through the lag, so that a test can
	// make its view stale at any moment; without delays it is exact.
	sc.restart()
	sc.inv = newInvariants(sc)
	sc.runner = s.runner(sc.lag.Idle)
	sc.runner.OnStep = sc.inv.check
	return sc
}

// jobOption shapes the Job of a scenario.
type jobOption func(*batchv1.Job)

func withParallelism(n int32) jobOption  { return func(j *batchv1.Job) { j.Spec.Parallelism = &n } }
func withCompletions(n int32) jobOption  { return func(j *batchv1.Job) { j.Spec.Completions = &n } }
func withBackoffLimit(n int32) jobOption { return func(j *batchv1.Job) { j.Spec.BackoffLimit = &n } }

func withRestartPolicy(p v1.RestartPolicy) jobOption {
	return func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = p }
}

func withReplacementPolicy(p batchv1.PodReplacementPolicy) jobOption {
	return func(j *batchv1.Job) { j.Spec.PodReplacementPolicy = &p }
}

func withGrace(seconds int64) jobOption {
	return func(j *batchv1.Job) { j.Spec.Template.Spec.TerminationGracePeriodSeconds = &seconds }
}

// script sets sim.kjob.dev/ annotations, given as key, value pairs without
// the prefix: "duration", "5s", "exit-codes", "1,0".
func withScript(kv ...string) jobOption {
	return func(j *batchv1.Job) {
		if j.Spec.Template.Annotations == nil {
			j.Spec.Template.Annotations = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			j.Spec.Template.Annotations[sim.AnnotationPrefix+kv[i]] = kv[i+1]
		}
	}
}

// newJob is a Job with restartPolicy Never and one container, before the
// cluster defaults it.
func newJob(name string, opts ...jobOption) *batchv1.Job {
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceDefault},
		Spec: batchv1.JobSpec{Template: v1.PodTemplateSpec{Spec: v1.PodSpec{
			RestartPolicy: v1.RestartPolicyNever,
			Containers:    []v1.Container{{Name: "worker", Image: "busybox"}},
		}}},
	}
	for _, o := range opts {
		o(job)
	}
	return job
}

// create submits a Job, as kubectl create does, at the current virtual time.
func (s *scenario) create(job *batchv1.Job) *batchv1.Job {
	s.t.Helper()
	created, err := s.sim.client.BatchV1().Jobs(job.Namespace).Create(s.ctx, job, metav1.CreateOptions{})
	require.NoError(s.t, err)
	return created
}

// job reads a Job from the API; nil once it is gone.
func (s *scenario) job(name string) *batchv1.Job {
	s.t.Helper()
	job, err := s.sim.client.BatchV1().Jobs(metav1.NamespaceDefault).Get(s.ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return job
}

// update changes a Job's spec, as kubectl edit does.
func (s *scenario) update(name string, mutate func(*batchv1.Job)) {
	s.t.Helper()
	jobs := s.sim.client.BatchV1().Jobs(metav1.NamespaceDefault)
	require.NoError(s.t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		job, err := jobs.Get(s.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		mutate(job)
		_, err = jobs.Update(s.ctx, job, metav1.UpdateOptions{})
		return err
	}))
}

// pods lists the pods made for a Job, oldest first. It goes by the Job's
// controller-uid label, so pods the Job has orphaned are listed too.
func (s *scenario) pods(job *batchv1.Job) []v1.Pod {
	s.t.Helper()
	list, err := s.sim.client.CoreV1().Pods(job.Namespace).List(s.ctx, metav1.ListOptions{
		LabelSelector: batchv1.ControllerUidLabel + "=" + string(job.UID)})
	require.NoError(s.t, err)
	sortPodsByCreation(list.Items)
	return list.Items
}

// podHistory lists every pod made for a Job that a step has seen, deleted
// ones included, each as last seen; oldest first.
func (s *scenario) podHistory(job *batchv1.Job) []v1.Pod {
	var out []v1.Pod
	for _, p := range s.inv.seen {
		if p.Labels[batchv1.ControllerUidLabel] == string(job.UID) {
			out = append(out, p)
		}
	}
	sortPodsByCreation(out)
	return out
}

// created counts the pods the controller created for a Job, from its
// SuccessfulCreate events.
func (s *scenario) created(job *batchv1.Job) int {
	return len(s.events(job.UID, controller.EventSuccessfulCreate))
}

// pod reads one pod; nil once it is gone.
func (s *scenario) pod(name string) *v1.Pod {
	pod, err := s.sim.client.CoreV1().Pods(metav1.NamespaceDefault).Get(s.ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return pod
}

// podsInPhase counts a Job's pods in phase.
func (s *scenario) podsInPhase(job *batchv1.Job, phase v1.PodPhase) int {
	n := 0
	for _, p := range s.pods(job) {
		if p.Status.Phase == phase {
			n++
		}
	}
	return n
}

// events lists the Events recorded for an object as "Type Reason: message",
// in the order they were first recorded; with reasons, only those.
func (s *scenario) events(uid types.UID, reasons ...string) []string {
	s.t.Helper()
	list, err := s.sim.client.CoreV1().Events(metav1.NamespaceAll).List(s.ctx, metav1.ListOptions{})
	require.NoError(s.t, err)
	var evs []v1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.UID == uid && (len(reasons) == 0 || slices.Contains(reasons, e.Reason)) {
			evs = append(evs, e)
		}
	}
	slices.SortStableFunc(evs, func(a, b v1.Event) int {
		return cmp.Or(a.FirstTimestamp.Compare(b.FirstTimestamp.Time), cmp.Compare(a.Name, b.Name))
	})
	var out []string
	for _, e := range evs {
		for range e.Count {
			out = append(out, fmt.Sprintf("%s %s: %s", e.Type, e.Reason, e.Message))
		}
	}
	return out
}

// elapsed is the virtual time since the simulation started.
func (s *scenario) elapsed() time.Duration { return s.sim.clock.Now().Sub(simStart) }

// since is the offset of t from the simulation's start.
func since(t metav1.Time) time.Duration { return t.Sub(simStart) }

// runUntil moves virtual time until done holds, at most limit; the test
// fails, naming what it waited for, if that does not happen.
func (s *scenario) runUntil(what string, limit time.Duration, done func() bool) {
	s.t.Helper()
	if err := s.runner.RunUntil(s.ctx, done, limit); err != nil {
		s.t.Fatalf("at +%s, waiting for %s: %v", s.elapsed(), what, err)
	}
}

// runTo moves virtual time to the given offset from the start, settling at
// every wake-up on the way.
func (s *scenario) runTo(offset time.Duration) {
	s.t.Helper()
	require.GreaterOrEqual(s.t, offset, s.elapsed(), "time only moves forward")
	require.NoError(s.t, s.runner.RunFor(s.ctx, offset-s.elapsed()))
}

// finished waits for the Job's Complete or Failed condition and returns the
// Job as it then is.
func (s *scenario) finished(name string, limit time.Duration) *batchv1.Job {
	s.t.Helper()
	s.runUntil("job/"+name+" to finish", limit, func() bool {
		job := s.job(name)
		return job != nil && (hasTrue(job, batchv1.JobComplete) || hasTrue(job, batchv1.JobFailed))
	})
	return s.job(name)
}

// restart restarts the controller as a process restart does: nothing the
// old one held in memory survives, and the new one lists everything again,
// through s.lag.
func (s *scenario) restart() {
	s.t.Helper()
	require.NoError(s.t, s.sim.restartController(s.ctx, s.lag.Client(s.sim.client)))
}

// restartAround stops the controller, does what happens while it is down,
// and starts a new one, as restart does.
func (s *scenario) restartAround(whileDown func()) {
	s.t.Helper()
	s.sim.stopCtrl()
	whileDown()
	require.NoError(s.t, s.sim.startController(s.ctx, s.lag.Client(s.sim.client)))
}

// deleteJob deletes a Job through the API; a nil policy sends none, which
// for batch/v1 Jobs means Orphan.
func (s *scenario) deleteJob(name string, policy *metav1.DeletionPropagation) {
	s.t.Helper()
	require.NoError(s.t, s.sim.client.BatchV1().Jobs(metav1.NamespaceDefault).Delete(s.ctx, name,
		metav1.DeleteOptions{PropagationPolicy: policy}))
}

func hasTrue(job *batchv1.Job, t batchv1.JobConditionType) bool {
	c := condition(job, t)
	return c != nil && c.Status == v1.ConditionTrue
}

// conditions renders a Job's conditions as "Type=Status Reason", in order.
func conditions(job *batchv1.Job) []string {
	var out []string
	for _, c := range job.Status.Conditions {
		out = append(out, fmt.Sprintf("%s=%s %s", c.Type, c.Status, c.Reason))
	}
	return out
}

// counts is the part of a Job's status most reports pin.
type counts struct {
	Active, Ready, Terminating, Succeeded, Failed int32
	Uncounted                                     int
}

func countsOf(job *batchv1.Job) counts {
	c := counts{
		Active: job.Status.Active, Ready: ptr.Deref(job.Status.Ready, 0),
		Terminating: ptr.Deref(job.Status.Terminating, 0),
		Succeeded:   job.Status.Succeeded, Failed: job.Status.Failed,
	}
	if u := job.Status.UncountedTerminatedPods; u != nil {
		c.Uncounted = len(u.Succeeded) + len(u.Failed)
	}
	return c
}

// creationGaps is, for each pod after the first, the time from the
// previous pod's last container exit to the pod's creation: the
// replacement delay of rule S4 as a user sees it.
func creationGaps(pods []v1.Pod) []time.Duration {
	var gaps []time.Duration
	for i := 1; i < len(pods); i++ {
		gaps = append(gaps, pods[i].CreationTimestamp.Sub(lastExit(&pods[i-1])))
	}
	return gaps
}

// lastRun is how the last finished run of a pod's first container ended.
func lastRun(pod *v1.Pod) *v1.ContainerStateTerminated {
	cs := pod.Status.ContainerStatuses[0]
	if cs.State.Terminated != nil {
		return cs.State.Terminated
	}
	return cs.LastTerminationState.Terminated
}

func lastExit(pod *v1.Pod) time.Time {
	var last time.Time
	for _, cs := range pod.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil && t.FinishedAt.After(last) {
			last = t.FinishedAt.Time
		}
	}
	return last
}
