package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/kjob-dev/kjob/sim"
)

// Scripted Job actions: annotations on a Job's own metadata (not on its pod
// template, which is the kubelet's business) that tell jobsim what a person
// or a queueing system does to the Job while it runs. Times are virtual,
// counted from the start of the run, like the [+Ns] of the progress lines:
//
//	sim.kjob.dev/create-at: 25s        create the Job then instead of at the start
//	sim.kjob.dev/suspend-at: 30s       set spec.suspend: true (a list: 30s, 5m)
//	sim.kjob.dev/resume-at: 200s       set spec.suspend: false (a list too)
//	sim.kjob.dev/delete-at: 20s        delete it, pods and all, as kubectl does
//
// A real cluster ignores them. A run is not over while an action is due.
const (
	actionCreateAt  = "create-at"
	actionSuspendAt = "suspend-at"
	actionResumeAt  = "resume-at"
	actionDeleteAt  = "delete-at"
)

// timeline runs the scripted actions of a simulation on its clock.
type timeline struct {
	clock  *sim.VirtualClock
	start  time.Time
	client kubernetes.Interface
	out    io.Writer
	p      *progressPrinter

	mu sync.Mutex
	// due counts actions armed and not yet done.
	due int
}

func newTimeline(clk *sim.VirtualClock, client kubernetes.Interface, out io.Writer, p *progressPrinter) *timeline {
	return &timeline{clock: clk, start: clk.Now(), client: client, out: out, p: p}
}

// jobAction is one thing to do to a Job at a time.
type jobAction struct {
	at   time.Duration
	name string
	do   func(ctx context.Context) error
}

// schedule reads the Job's scripted actions and arms them. It reports
// whether the Job's creation itself is scheduled for later (create-at), in
// which case the caller must not create it now. Any problem is bad input.
func (tl *timeline) schedule(ctx context.Context, m manifest, job *batchv1.Job) (deferred bool, err error) {
	actions, createAt, err := tl.parse(m, job)
	if err != nil {
		return false, err
	}
	if createAt > 0 {
		// Refuse now what the apiserver would refuse then: the run must
		// not fail halfway through on a typo.
		check := job.DeepCopy()
		sim.DefaultJob(check)
		if errs := sim.ValidateJob(check); len(errs) > 0 {
			return false, badInput("%s: %s", m.describe(), errs.ToAggregate())
		}
		actions = append(actions, jobAction{at: createAt, name: "created", do: func(ctx context.Context) error {
			_, err := tl.client.BatchV1().Jobs(job.Namespace).Create(ctx, job, metav1.CreateOptions{})
			return err
		}})
	}
	for _, a := range actions {
		tl.arm(ctx, job, a)
	}
	return createAt > 0, nil
}

// parse turns the annotations into actions; createAt is 0 unless set.
func (tl *timeline) parse(m manifest, job *batchv1.Job) (actions []jobAction, createAt time.Duration, err error) {
	var errs []error
	for key, value := range job.Annotations {
		name, ok := strings.CutPrefix(key, sim.AnnotationPrefix)
		if !ok {
			continue
		}
		times, perr := parseOffsets(value)
		if perr == nil && (name == actionCreateAt || name == actionDeleteAt) && len(times) > 1 {
			perr = errors.New("takes one time")
		}
		if perr != nil {
			errs = append(errs, fmt.Errorf("annotation %s=%q: %w", key, value, perr))
			continue
		}
		switch name {
		case actionCreateAt:
			createAt = times[0]
		case actionSuspendAt, actionResumeAt:
			suspend := name == actionSuspendAt
			verb := map[bool]string{true: "suspended", false: "resumed"}[suspend]
			for _, at := range times {
				actions = append(actions, jobAction{at: at, name: verb, do: tl.setSuspend(job, suspend)})
			}
		case actionDeleteAt:
			actions = append(actions, jobAction{at: times[0], name: "deleted", do: tl.deleteJob(job)})
		default:
			errs = append(errs, fmt.Errorf("annotation %s: unknown on a Job (the Job takes %s, %s, %s and %s; pod annotations go on the template)",
				key, actionCreateAt, actionSuspendAt, actionResumeAt, actionDeleteAt))
		}
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return nil, 0, badInput("%s: %v", m.describe(), errors.Join(errs...))
	}
	return actions, createAt, nil
}

// parseOffsets reads a comma-separated list of non-negative durations.
func parseOffsets(value string) ([]time.Duration, error) {
	var out []time.Duration
	for _, part := range strings.Split(value, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%q is not a time since the start of the run (want e.g. 30s or 2m)", strings.TrimSpace(part))
		}
		out = append(out, d)
	}
	return out, nil
}

// arm schedules a on the virtual clock. The runner waits for the callback
// before it settles, so its progress line never interleaves with others.
func (tl *timeline) arm(ctx context.Context, job *batchv1.Job, a jobAction) {
	tl.mu.Lock()
	tl.due++
	tl.mu.Unlock()
	wait := tl.start.Add(a.at).Sub(tl.clock.Now())
	tl.clock.AfterFunc(max(wait, 0), func() {
		defer func() {
			tl.mu.Lock()
			tl.due--
			tl.mu.Unlock()
		}()
		line := a.name
		if err := a.do(ctx); err != nil {
			line = fmt.Sprintf("not %s: %s", a.name, describeAPIError(err))
		}
		fmt.Fprintf(tl.out, "%s job/%s %s\n", tl.p.stamp(tl.clock.Now()), job.Name, line)
	})
}

// pending reports whether an action is still to come.
func (tl *timeline) pending() bool {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.due > 0
}

func (tl *timeline) setSuspend(job *batchv1.Job, suspend bool) func(context.Context) error {
	patch := fmt.Appendf(nil, `{"spec":{"suspend":%t}}`, suspend)
	return func(ctx context.Context) error {
		_, err := tl.client.BatchV1().Jobs(job.Namespace).Patch(ctx, job.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		return err
	}
}

// deleteJob deletes as kubectl does: in the background, so the Job goes at
// once and the garbage collector takes its pods.
func (tl *timeline) deleteJob(job *batchv1.Job) func(context.Context) error {
	return func(ctx context.Context) error {
		policy := metav1.DeletePropagationBackground
		err := tl.client.BatchV1().Jobs(job.Namespace).Delete(ctx, job.Name, metav1.DeleteOptions{PropagationPolicy: &policy})
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("it does not exist")
		}
		return err
	}
}
