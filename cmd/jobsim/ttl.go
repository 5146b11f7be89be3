package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/kjob-dev/kjob/controller/ttl"
	"github.com/kjob-dev/kjob/informers"
	"github.com/kjob-dev/kjob/sim"
	"github.com/kjob-dev/kjob/workqueue"
)

// ttlRun is the TTL-after-finished controller of a simulation, which runs
// it as a cluster's kube-controller-manager would: a finished Job with
// spec.ttlSecondsAfterFinished is deleted, pods and all, that many virtual
// seconds after it finished. A run then lasts until those deletions are
// done, and remembers how each deleted Job ended, for the exit status.
type ttlRun struct {
	ctrl *ttl.Controller
	// stop ends the controller and waits for it.
	stop func()

	mu sync.Mutex
	// gone holds the last state of every finished Job that left the
	// cluster, in the order they went.
	gone []*batchv1.Job
	// reported is how many of gone the progress lines have shown.
	reported int
}

// startTTLRun starts the controller with informers and a queue of its own,
// as its own process would have; stop ends it.
func startTTLRun(ctx context.Context, client kubernetes.Interface, clk *sim.VirtualClock, impl workqueue.Implementation) (*ttlRun, error) {
	ctx, cancel := context.WithCancel(ctx)
	factory := informers.NewFactory(client, 0)
	jobs := factory.Batch().V1().Jobs()
	ctrl, err := ttl.New(ctx, ttl.Config{
		Client: client, JobInformer: jobs, Clock: clk, NewQueue: clockQueues(clk, impl, jobRateLimiter),
	})
	if err != nil {
		cancel()
		return nil, err
	}
	r := &ttlRun{ctrl: ctrl}
	if _, err := jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: r.jobDeleted}); err != nil {
		cancel()
		return nil, err
	}
	if r.stop, err = runInformed(ctx, cancel, factory, func(ctx context.Context) { ctrl.Run(ctx, ttl.DefaultWorkers) }); err != nil {
		return nil, err
	}
	return r, nil
}

// jobDeleted records a finished Job that left the cluster. A Job deleted
// before it finished (a scripted delete-at) has no outcome to remember.
func (r *ttlRun) jobDeleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	job, ok := obj.(*batchv1.Job)
	if !ok || !isFinishedStatus(jobStatus(job)) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gone = append(r.gone, job)
}

// finishedAndGone returns the last state of the finished Jobs that were deleted.
func (r *ttlRun) finishedAndGone() []batchv1.Job {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]batchv1.Job, 0, len(r.gone))
	for _, j := range r.gone {
		out = append(out, *j)
	}
	return out
}

// printGone prints a progress line for each finished Job deleted since the
// last call.
func (r *ttlRun) printGone(w io.Writer, p *progressPrinter, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, j := range r.gone[r.reported:] {
		// The outcome goes on the line too: with a TTL of 0 the Job may
		// be gone before a progress line ever showed it finished.
		detail := jobStatus(j)
		if j.Spec.TTLSecondsAfterFinished != nil {
			detail += fmt.Sprintf(", ttlSecondsAfterFinished: %d", *j.Spec.TTLSecondsAfterFinished)
		}
		fmt.Fprintf(w, "%s job/%s  deleted (%s)\n", p.stamp(now), j.Name, detail)
	}
	r.reported = len(r.gone)
}

// waitsForTTL: the Job has finished and has a TTL, so the TTL controller
// will delete it; the run is not over until it has.
func waitsForTTL(job *batchv1.Job) bool {
	return job.Spec.TTLSecondsAfterFinished != nil && isFinishedStatus(jobStatus(job))
}

func isFinishedStatus(status string) bool { return status == "Complete" || status == "Failed" }
