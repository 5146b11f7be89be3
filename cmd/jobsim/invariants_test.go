package main

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/controller"
)

// invariants are the rules that must hold whenever the simulation is
// quiet, whatever the scenario: the runner checks them after every step,
// so a violation that lasts a single step is caught too.
type invariants struct {
	s    *scenario
	jobs map[types.UID]*jobHistory
	// reported keeps one report per Job and rule, so a broken rule does
	// not flood the output step after step.
	reported sets.Set[string]
	// seen is every pod as last seen at a step, deleted ones included.
	seen map[types.UID]v1.Pod
}

// jobHistory is what the checks remember of one Job between steps.
type jobHistory struct {
	name              string
	succeeded, failed int32
	// listed holds the UIDs in uncountedTerminatedPods at the last step;
	// counted, those that have left it, i.e. were added to a counter.
	listed, counted sets.Set[types.UID]
	// maxCreated bounds the pods the Job may ever get; 0 means no bound.
	maxCreated int
}

func newInvariants(s *scenario) *invariants {
	return &invariants{s: s, jobs: map[types.UID]*jobHistory{}, reported: sets.New[string](), seen: map[types.UID]v1.Pod{}}
}

// boundCreations adds the rule of failing NonIndexed Jobs: at most
// backoffLimit + parallelism pods, ever.
func (inv *invariants) boundCreations(job *batchv1.Job) {
	inv.history(job).maxCreated = int(ptr.Deref(job.Spec.BackoffLimit, 6) + ptr.Deref(job.Spec.Parallelism, 1))
}

func (inv *invariants) history(job *batchv1.Job) *jobHistory {
	h, ok := inv.jobs[job.UID]
	if !ok {
		h = &jobHistory{name: job.Name, listed: sets.New[types.UID](), counted: sets.New[types.UID]()}
		inv.jobs[job.UID] = h
	}
	return h
}

func (inv *invariants) violated(job *batchv1.Job, rule, format string, args ...any) {
	key := string(job.UID) + "/" + rule
	if inv.reported.Has(key) {
		return
	}
	inv.reported.Insert(key)
	inv.s.t.Errorf("at +%s, job/%s breaks %q: %s", inv.s.elapsed(), job.Name, rule, fmt.Sprintf(format, args...))
}

// check runs every rule on the cluster as it is now.
func (inv *invariants) check() {
	s := inv.s
	jobs, err := s.sim.client.BatchV1().Jobs(metav1.NamespaceAll).List(s.ctx, metav1.ListOptions{})
	if err != nil {
		s.t.Errorf("listing Jobs: %v", err)
		return
	}
	pods, err := s.sim.client.CoreV1().Pods(metav1.NamespaceAll).List(s.ctx, metav1.ListOptions{})
	if err != nil {
		s.t.Errorf("listing pods: %v", err)
		return
	}
	running := map[types.UID]int{}
	for _, p := range pods.Items {
		inv.seen[p.UID] = p
		if ref := metav1.GetControllerOf(&p); ref != nil && !isTerminalPod(&p) {
			running[ref.UID]++
		}
	}
	for i := range jobs.Items {
		job := &jobs.Items[i]
		inv.checkJob(job, running[job.UID])
	}
}

func (inv *invariants) checkJob(job *batchv1.Job, running int) {
	h := inv.history(job)
	st := job.Status
	// An elastic Indexed Job that shrinks drops the successes of the indexes
	// it no longer has; the apiserver allows that only while completions
	// equals parallelism.
	shrinks := ptr.Deref(job.Spec.CompletionMode, "") == batchv1.IndexedCompletion &&
		ptr.Equal(job.Spec.Completions, job.Spec.Parallelism)
	if (st.Succeeded < h.succeeded && !shrinks) || st.Failed < h.failed {
		inv.violated(job, "counters never go down", "succeeded %d→%d, failed %d→%d", h.succeeded, st.Succeeded, h.failed, st.Failed)
	}
	h.succeeded, h.failed = max(h.succeeded, st.Succeeded), max(h.failed, st.Failed)
	if shrinks {
		h.succeeded = st.Succeeded
	}
	if ready := ptr.Deref(st.Ready, 0); ready > st.Active {
		inv.violated(job, "ready ≤ active", "ready=%d active=%d", ready, st.Active)
	}

	complete, failed := hasTrue(job, batchv1.JobComplete), hasTrue(job, batchv1.JobFailed)
	if complete && failed {
		inv.violated(job, "never both Complete and Failed", "%v", conditions(job))
	}
	u := st.UncountedTerminatedPods
	if u == nil {
		u = &batchv1.UncountedTerminatedPods{}
	}
	if complete || failed {
		if st.Active != 0 || ptr.Deref(st.Terminating, 0) != 0 || len(u.Succeeded)+len(u.Failed) != 0 {
			inv.violated(job, "finished means nothing active, terminating or uncounted",
				"active=%d terminating=%d uncounted=%v", st.Active, ptr.Deref(st.Terminating, 0), u)
		}
		if running > 0 {
			inv.violated(job, "finished means no pod of the Job still runs", "%d pods are neither Succeeded nor Failed", running)
		}
	}

	// Each pod is counted once: it passes through the uncounted lists once,
	// in one of them, and the counters never exceed the pods there were.
	listed := sets.New[types.UID]()
	for _, list := range [][]types.UID{u.Succeeded, u.Failed} {
		for _, uid := range list {
			if listed.Has(uid) {
				inv.violated(job, "a pod is listed once", "%s is listed twice in %v", uid, u)
			}
			if h.counted.Has(uid) {
				inv.violated(job, "a pod is counted once", "%s is listed again after it was counted", uid)
			}
			listed.Insert(uid)
		}
	}
	h.counted = h.counted.Union(h.listed.Difference(listed))
	h.listed = listed
	created := len(inv.s.events(job.UID, controller.EventSuccessfulCreate))
	if int(st.Succeeded+st.Failed)+listed.Len() > created {
		inv.violated(job, "a pod is counted once", "succeeded=%d failed=%d uncounted=%d, but only %d pods were created",
			st.Succeeded, st.Failed, listed.Len(), created)
	}
	if h.maxCreated > 0 && created > h.maxCreated {
		inv.violated(job, "pods created ≤ backoffLimit + parallelism", "%d pods created, bound %d", created, h.maxCreated)
	}
}

func isTerminalPod(p *v1.Pod) bool {
	return p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed
}
