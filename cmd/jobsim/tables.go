package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// The tables mirror `kubectl get jobs -o wide` and `kubectl get pods -o wide`
// so that what the simulator prints reads like what a cluster would show.

func printJobs(w io.Writer, jobs []batchv1.Job, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tCOMPLETIONS\tDURATION\tAGE\tCONTAINERS\tIMAGES\tSELECTOR")
	for i := range jobs {
		j := &jobs[i]
		var names, images []string
		for _, c := range j.Spec.Template.Spec.Containers {
			names = append(names, c.Name)
			images = append(images, c.Image)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.Name, jobStatus(j), completions(j),
			jobDuration(j, now), age(j.CreationTimestamp, now), strings.Join(names, ","), strings.Join(images, ","),
			metav1.FormatLabelSelector(j.Spec.Selector))
	}
	tw.Flush()
}

// jobStatus is the STATUS column kubectl shows since 1.30.
func jobStatus(j *batchv1.Job) string {
	has := func(t batchv1.JobConditionType) bool {
		for _, c := range j.Status.Conditions {
			if c.Type == t && c.Status == v1.ConditionTrue {
				return true
			}
		}
		return false
	}
	switch {
	case has(batchv1.JobComplete):
		return "Complete"
	case has(batchv1.JobFailed):
		return "Failed"
	case j.DeletionTimestamp != nil:
		return "Terminating"
	case has(batchv1.JobSuccessCriteriaMet):
		return "SuccessCriteriaMet"
	case has(batchv1.JobFailureTarget):
		return "FailureTarget"
	case has(batchv1.JobSuspended):
		return "Suspended"
	default:
		return "Running"
	}
}

func completions(j *batchv1.Job) string {
	if j.Spec.Completions != nil {
		return fmt.Sprintf("%d/%d", j.Status.Succeeded, *j.Spec.Completions)
	}
	parallelism := int32(0)
	if j.Spec.Parallelism != nil {
		parallelism = *j.Spec.Parallelism
	}
	if parallelism > 1 {
		return fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, parallelism)
	}
	return fmt.Sprintf("%d/1", j.Status.Succeeded)
}

func jobDuration(j *batchv1.Job, now time.Time) string {
	if j.Status.StartTime == nil {
		return ""
	}
	end := now
	if j.Status.CompletionTime != nil {
		end = j.Status.CompletionTime.Time
	}
	return duration.HumanDuration(end.Sub(j.Status.StartTime.Time))
}

func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

func printPods(w io.Writer, pods []v1.Pod, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tREADY\tSTATUS\tRESTARTS\tAGE\tIP\tNODE\tNOMINATED NODE\tREADINESS GATES")
	for i := range pods {
		p := &pods[i]
		ready, restarts := 0, int32(0)
		for _, s := range p.Status.ContainerStatuses {
			if s.Ready {
				ready++
			}
			restarts += s.RestartCount
		}
		ip, node := p.Status.PodIP, p.Spec.NodeName
		if ip == "" {
			ip = "<none>"
		}
		if node == "" {
			node = "<none>"
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%d\t%s\t%s\t%s\t<none>\t<none>\n", p.Name, ready, len(p.Spec.Containers),
			podStatus(p), restarts, age(p.CreationTimestamp, now), ip, node)
	}
	tw.Flush()
}

// podStatus follows kubectl's STATUS column: a container's waiting or
// terminated reason wins over the phase; a deleted pod is Terminating.
func podStatus(p *v1.Pod) string {
	reason := string(p.Status.Phase)
	if p.Status.Reason != "" {
		reason = p.Status.Reason
	}
	for _, s := range p.Status.ContainerStatuses {
		switch {
		case s.State.Waiting != nil && s.State.Waiting.Reason != "":
			reason = s.State.Waiting.Reason
		case s.State.Terminated != nil && s.State.Terminated.Reason != "":
			reason = s.State.Terminated.Reason
		case s.State.Terminated != nil:
			reason = fmt.Sprintf("ExitCode:%d", s.State.Terminated.ExitCode)
		}
	}
	if p.Status.Phase == v1.PodPending && reason == string(v1.PodPending) && p.Spec.NodeName != "" {
		reason = "ContainerCreating"
	}
	if p.DeletionTimestamp != nil && p.Status.Phase != v1.PodSucceeded && p.Status.Phase != v1.PodFailed {
		reason = "Terminating"
	}
	return reason
}

// sortPodsByCreation lists pods oldest first, names breaking ties, so the
// table reads in the order things happened.
func sortPodsByCreation(pods []v1.Pod) { sortByCreation(pods) }

// sortByCreation orders objects (pods, Jobs …) oldest first, names breaking
// ties.
func sortByCreation[T any, P interface {
	*T
	metav1.Object
}](items []T) {
	slices.SortStableFunc(items, func(a, b T) int {
		ma, mb := P(&a), P(&b)
		if c := ma.GetCreationTimestamp().Compare(mb.GetCreationTimestamp().Time); c != 0 {
			return c
		}
		return strings.Compare(ma.GetName(), mb.GetName())
	})
}
