package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/tools/record"

	"github.com/kjob-dev/kjob/controller/cronjob"
	"github.com/kjob-dev/kjob/informers"
	"github.com/kjob-dev/kjob/sim"
	"github.com/kjob-dev/kjob/workqueue"
)

// CronJobs in the simulator: the CronJob controller runs beside the Job
// controller on the same cluster and clock, and `--for DURATION` runs a
// fixed span of virtual time, since a CronJob never finishes.

// cronRun is the CronJob controller of a simulation.
type cronRun struct {
	ctrl   *cronjob.Controller
	events *eventLines
	// stop ends the controller and waits for it.
	stop func()
	// seenJobs remembers the Jobs whose creation was printed.
	seenJobs map[types.UID]bool
}

// startCronRun starts the CronJob controller with informers and a queue of
// its own, as its own process would have, recording its events into the
// cluster (stamped with virtual time) and into progress lines.
func startCronRun(ctx context.Context, cluster *sim.Cluster, clk *sim.VirtualClock, impl workqueue.Implementation) (*cronRun, error) {
	ctx, cancel := context.WithCancel(ctx)
	events := &eventLines{EventRecorder: cluster.NewEventRecorder(cronjob.ControllerName)}
	factory := informers.NewFactory(cluster.Client(), 0)
	ctrl, err := cronjob.New(ctx, cronjob.Config{
		Client:          cluster.Client(),
		CronJobInformer: factory.Batch().V1().CronJobs(),
		JobInformer:     factory.Batch().V1().Jobs(),
		Clock:           clk,
		Recorder:        events,
		NewQueue:        clockQueues(clk, impl, cronjob.NewRateLimiter),
	})
	if err != nil {
		cancel()
		return nil, err
	}
	stop, err := runInformed(ctx, cancel, factory, func(ctx context.Context) { ctrl.Run(ctx, cronjob.DefaultWorkers) })
	if err != nil {
		return nil, err
	}
	return &cronRun{ctrl: ctrl, events: events, seenJobs: map[types.UID]bool{}, stop: stop}, nil
}

// applyCronJob creates a CronJob as `kubectl create` would.
func (s *simulation) applyCronJob(ctx context.Context, m manifest, cj *batchv1.CronJob) error {
	if cj.Namespace == "" {
		cj.Namespace = metav1.NamespaceDefault
	}
	created, err := s.client.BatchV1().CronJobs(cj.Namespace).Create(ctx, cj, metav1.CreateOptions{})
	if err != nil {
		return badInput("%s: %s", m.describe(), describeAPIError(err))
	}
	zone := "UTC"
	if created.Spec.TimeZone != nil {
		zone = *created.Spec.TimeZone
	}
	fmt.Fprintf(s.progress.w, "%s cronjob/%s created: schedule %q (%s), concurrencyPolicy %s\n",
		s.progress.stamp(s.clock.Now()), created.Name, created.Spec.Schedule, zone, created.Spec.ConcurrencyPolicy)
	return nil
}

// needsFor names the first CronJob among manifests: a run of one needs
// --for, because it would never end on its own.
func needsFor(manifests []manifest) error {
	for _, m := range manifests {
		if _, ok := m.obj.(*batchv1.CronJob); ok {
			return badInput("%s never finishes: give --for DURATION (e.g. --for 1h) to simulate a span of time", m.describe())
		}
	}
	return nil
}

// runFor moves virtual time through a fixed span, printing Jobs as CronJobs
// create them. It ends NextScheduleDelta past the span: the controller
// looks 100 ms after each start time, so a start time at the very end of
// the span still gets its Job. The outcome counts as completed whenever the
// span ran: CronJob Jobs are a stream, and a failed one is part of it.
func (s *simulation) runFor(ctx context.Context, span time.Duration) (outcome, error) {
	err := s.advance(ctx, span+cronjob.NextScheduleDelta)
	return outcome{allCompleted: err == nil}, err
}

// advance moves virtual time forward by exactly d with every controller
// and the kubelet running, printing progress at every step.
func (s *simulation) advance(ctx context.Context, d time.Duration) error {
	runner := s.runner()
	runner.OnStep = func() { s.stepCronJobs(ctx) }
	runCtx, cancel := s.pods.bind(ctx)
	defer cancel()
	err := runner.RunFor(runCtx, d)
	if limitErr := s.pods.err(); limitErr != nil {
		err = limitErr
	}
	s.stepCronJobs(ctx)
	return err
}

// stepCronJobs prints what happened since the last step: Jobs that
// CronJobs created, then the Job status lines, then the CronJobs' events
// (skips, deletions, warnings) in the order they were recorded.
func (s *simulation) stepCronJobs(ctx context.Context) {
	now := s.clock.Now()
	jobs, err := s.client.BatchV1().Jobs(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err == nil {
		sortByCreation(jobs.Items)
		for i := range jobs.Items {
			j := &jobs.Items[i]
			ref := metav1.GetControllerOf(j)
			if s.cron.seenJobs[j.UID] || ref == nil || ref.Kind != "CronJob" {
				continue
			}
			s.cron.seenJobs[j.UID] = true
			fmt.Fprintf(s.progress.w, "%s job/%s created by cronjob/%s for %s\n", s.progress.stamp(now), j.Name, ref.Name,
				j.Annotations[batchv1.CronJobScheduledTimestampAnnotation])
		}
	}
	s.progress.step(ctx, s.client, now)
	s.ttl.printGone(s.out, s.progress, now)
	for _, line := range s.cron.events.take() {
		fmt.Fprintf(s.progress.w, "%s %s\n", s.progress.stamp(now), line)
	}
}

// eventLines is an EventRecorder that passes every event on and keeps a
// progress line for the ones worth printing: skips, deletions, warnings.
// (Creations and completions are told by the job/… lines.) Keeping them as
// they are recorded costs nothing per step; listing the cluster's Events
// at every step grows with the run.
type eventLines struct {
	record.EventRecorder
	mu    sync.Mutex
	lines []string
}

func (r *eventLines) Event(obj runtime.Object, eventType, reason, message string) {
	r.note(obj, eventType, reason, message)
	r.EventRecorder.Event(obj, eventType, reason, message)
}

func (r *eventLines) Eventf(obj runtime.Object, eventType, reason, format string, args ...any) {
	r.note(obj, eventType, reason, fmt.Sprintf(format, args...))
	r.EventRecorder.Eventf(obj, eventType, reason, format, args...)
}

func (r *eventLines) AnnotatedEventf(obj runtime.Object, annotations map[string]string, eventType, reason, format string, args ...any) {
	r.note(obj, eventType, reason, fmt.Sprintf(format, args...))
	r.EventRecorder.AnnotatedEventf(obj, annotations, eventType, reason, format, args...)
}

func (r *eventLines) note(obj runtime.Object, eventType, reason, message string) {
	if reason == cronjob.ReasonSuccessfulCreate || reason == cronjob.ReasonSawCompletedJob {
		return
	}
	name := "?"
	if m, err := meta.Accessor(obj); err == nil {
		name = m.GetName()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf("cronjob/%s  %s %s: %s", name, eventType, reason, message))
}

// take returns the lines noted since the last call.
func (r *eventLines) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	lines := r.lines
	r.lines = nil
	return lines
}

// listCronJobs returns every CronJob, sorted by namespace and name.
func (s *simulation) listCronJobs(ctx context.Context) ([]batchv1.CronJob, error) {
	list, err := s.client.BatchV1().CronJobs(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(list.Items, func(a, b batchv1.CronJob) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return list.Items, nil
}

// printCronJobs prints the columns of `kubectl get cronjobs -o wide`, then
// the status fields that table leaves out, as kubectl's custom columns
// would show them. It prints nothing when there are no CronJobs.
func printCronJobs(w io.Writer, cronJobs []batchv1.CronJob, now time.Time) {
	if len(cronJobs) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "$ kubectl get cronjobs -o wide")
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSCHEDULE\tTIMEZONE\tSUSPEND\tACTIVE\tLAST SCHEDULE\tAGE\tCONTAINERS\tIMAGES\tSELECTOR")
	for i := range cronJobs {
		cj := &cronJobs[i]
		var names, images []string
		for _, c := range cj.Spec.JobTemplate.Spec.Template.Spec.Containers {
			names = append(names, c.Name)
			images = append(images, c.Image)
		}
		zone := "<none>"
		if cj.Spec.TimeZone != nil {
			zone = *cj.Spec.TimeZone
		}
		last := "<none>"
		if cj.Status.LastScheduleTime != nil {
			last = duration.HumanDuration(now.Sub(cj.Status.LastScheduleTime.Time))
		}
		selector := "<none>"
		if cj.Spec.JobTemplate.Spec.Selector != nil {
			selector = metav1.FormatLabelSelector(cj.Spec.JobTemplate.Spec.Selector)
		}
		suspend := cj.Spec.Suspend != nil && *cj.Spec.Suspend
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%d\t%s\t%s\t%s\t%s\t%s\n", cj.Name, cj.Spec.Schedule, zone, suspend,
			len(cj.Status.Active), last, age(cj.CreationTimestamp, now), strings.Join(names, ","), strings.Join(images, ","), selector)
	}
	tw.Flush()

	fmt.Fprintln(w)
	fmt.Fprintln(w, "$ kubectl get cronjobs -o custom-columns=NAME:.metadata.name,LAST-SCHEDULE:.status.lastScheduleTime,LAST-SUCCESSFUL:.status.lastSuccessfulTime,ACTIVE:.status.active[*].name")
	tw = tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tLAST-SCHEDULE\tLAST-SUCCESSFUL\tACTIVE")
	for i := range cronJobs {
		st := &cronJobs[i].Status
		var active []string
		for _, ref := range st.Active {
			active = append(active, ref.Name)
		}
		if len(active) == 0 {
			active = []string{"<none>"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cronJobs[i].Name, rfc3339(st.LastScheduleTime), rfc3339(st.LastSuccessfulTime), strings.Join(active, ","))
	}
	tw.Flush()
}

func rfc3339(t *metav1.Time) string {
	if t == nil {
		return "<none>"
	}
	return t.UTC().Format(time.RFC3339)
}
