package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// progressPrinter prints one line per Job whenever its status changes, with
// the simulated time since the start, so a run reads as a timeline:
//
//	[+0s]   job/simplejob created
//	[+1s]   job/simplejob  Running  active=1 ready=0 succeeded=0 failed=0
type progressPrinter struct {
	w     io.Writer
	start time.Time
	last  map[string]string

	// width is the stamp column's width: at least minStampWidth, and
	// widened to the longest stamp printed so far, so that
	// `[+1m16.5s]` does not push its line out of the column. Stamps are
	// printed from the runner's steps and from clock callbacks.
	mu    sync.Mutex
	width int
}

// minStampWidth fits `[+59m59s]`.
const minStampWidth = 9

func newProgressPrinter(w io.Writer, start time.Time) *progressPrinter {
	return &progressPrinter{w: w, start: start, last: map[string]string{}, width: minStampWidth}
}

// stamp is the time column of a progress line: the virtual time since the
// start, padded to the column's width. A space follows it on the line.
func (p *progressPrinter) stamp(now time.Time) string {
	s := fmt.Sprintf("[+%s]", now.Sub(p.start).Round(time.Millisecond))
	p.mu.Lock()
	defer p.mu.Unlock()
	p.width = max(p.width, len(s))
	return fmt.Sprintf("%-*s", p.width, s)
}

func (p *progressPrinter) created(job *batchv1.Job) {
	fmt.Fprintf(p.w, "%s job/%s created\n", p.stamp(p.start), job.Name)
}

func (p *progressPrinter) step(ctx context.Context, client kubernetes.Interface, now time.Time) {
	jobs, err := client.BatchV1().Jobs(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		line := fmt.Sprintf("%-18s active=%d ready=%d succeeded=%d failed=%d", jobStatus(j), j.Status.Active,
			deref(j.Status.Ready), j.Status.Succeeded, j.Status.Failed)
		line += indexesSummary(j)
		key := j.Namespace + "/" + j.Name
		if p.last[key] == line {
			continue
		}
		p.last[key] = line
		fmt.Fprintf(p.w, "%s job/%s  %s\n", p.stamp(now), j.Name, line)
	}
}

// indexesSummary shows an Indexed Job's completed and failed indexes, in
// the status's own interval form.
func indexesSummary(j *batchv1.Job) string {
	if j.Spec.CompletionMode == nil || *j.Spec.CompletionMode != batchv1.IndexedCompletion {
		return ""
	}
	s := fmt.Sprintf(" completed=%q", j.Status.CompletedIndexes)
	if j.Status.FailedIndexes != nil {
		s += fmt.Sprintf(" failedIndexes=%q", *j.Status.FailedIndexes)
	}
	return s
}

func deref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}
