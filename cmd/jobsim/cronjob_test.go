package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes/scheme"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// CronJobs on the simulator: the acceptance checks of `jobsim --for`, each
// concurrency policy, the history limits, and the CronJob field reports
// F18–F22 of the project's scenario list, played on the virtual clock.

// simAt is simStart plus d: the virtual time of an event in a run.
func simAt(d time.Duration) time.Time { return simStart.Add(d) }

// jobFor is the name of the Job a CronJob makes for a start time.
func jobFor(cronJob string, slot time.Time) string {
	return fmt.Sprintf("%s-%d", cronJob, slot.Unix()/60)
}

var createdLine = regexp.MustCompile(`(?m)^\[\+([^\]]+)\]\s+job/(\S+) created by cronjob/`)

// createdJobs lists, in order, the Jobs a run's progress says CronJobs made.
func createdJobs(progress string) []string {
	var out []string
	for _, m := range createdLine.FindAllStringSubmatch(progress, -1) {
		out = append(out, m[2])
	}
	return out
}

// TestCronJobForAnHour is the acceptance check: a */5 CronJob whose Jobs
// succeed, run for an hour, creates 12 Jobs and keeps 3 in its history;
// the final status has lastScheduleTime and lastSuccessfulTime.
func TestCronJobForAnHour(t *testing.T) {
	code, out, progress := runJobsim(t, "--for", "1h", "-o", "json", testdata("cronjob.yaml"))
	require.Equal(t, exitCompleted, code, "stderr: %s", progress)

	var want []string
	for m := 5; m <= 60; m += 5 {
		want = append(want, jobFor("hello", simAt(time.Duration(m)*time.Minute)))
	}
	assert.Equal(t, want, createdJobs(progress), "one Job per start time, 00:05 to 01:00")

	cronJobs, jobs, pods := decodeCronList(t, out)
	require.Len(t, cronJobs, 1)
	st := cronJobs[0].Status
	require.NotNil(t, st.LastScheduleTime)
	assert.Equal(t, simAt(time.Hour), st.LastScheduleTime.UTC())
	require.NotNil(t, st.LastSuccessfulTime)
	assert.True(t, st.LastSuccessfulTime.After(simAt(55*time.Minute)), "the 00:55 Job finished: %v", st.LastSuccessfulTime)
	assert.Equal(t, []string{want[11]}, refNames(st.Active), "the 01:00 Job has just started")

	complete, _, _ := byOutcome(jobs)
	assert.Equal(t, want[8:11], complete, "the three newest successful Jobs are kept")
	assert.Len(t, jobs, 4)
	assert.Len(t, pods, 4, "deleted Jobs took their pods with them")
}

// TestCronJobTables: without -o json the run ends with the CronJob tables.
func TestCronJobTables(t *testing.T) {
	code, out, errOut := runJobsim(t, "--for", "12m", testdata("cronjob.yaml"))
	require.Equal(t, exitCompleted, code, "stderr: %s", errOut)
	assert.Contains(t, out, `cronjob/hello created: schedule "*/5 * * * *" (Etc/UTC), concurrencyPolicy Allow`)
	assert.Contains(t, out, "$ kubectl get cronjobs -o wide")
	assert.Regexp(t, `(?m)^NAME\s+SCHEDULE\s+TIMEZONE\s+SUSPEND\s+ACTIVE\s+LAST SCHEDULE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR$`, out)
	assert.Regexp(t, `(?m)^hello\s+\*/5 \* \* \* \*\s+Etc/UTC\s+false\s+0\s+2m\s+12m\s+hello\s+busybox\s+<none>$`, out)
	assert.Regexp(t, `(?m)^hello\s+2026-01-01T00:10:00Z\s+2026-01-01T00:10:0\dZ\s+<none>$`, out)
	assert.Contains(t, out, "$ kubectl get jobs -o wide")
	assert.Contains(t, out, "$ kubectl get pods -o wide")
}

func TestCronJobNeedsFor(t *testing.T) {
	code, _, errOut := runJobsim(t, testdata("cronjob.yaml"))
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, errOut, `CronJob "hello" never finishes: give --for DURATION`)
}

func TestCronJobRejectedLikeTheAPIServer(t *testing.T) {
	code, _, errOut := runJobsim(t, "--for", "1h", writeTemp(t, "bad.yaml", `apiVersion: batch/v1
kind: CronJob
metadata:
  name: bad
spec:
  schedule: "61 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: busybox}]
`))
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, errOut, "spec.schedule")
}

// cronSim is a simulation with one CronJob applied, for tests that drive
// time themselves and look at the cluster between steps.
type cronSim struct {
	*simulation
	t        *testing.T
	ctx      context.Context
	progress *bytes.Buffer
}

func newCronSim(t *testing.T, cj *batchv1.CronJob) *cronSim {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var progress bytes.Buffer
	s, err := newSimulation(ctx, options{runtime: "auto", seed: 1, workers: 5, queue: "kjob", nodes: 3}, &progress)
	require.NoError(t, err)
	require.NoError(t, s.applyCronJob(ctx, manifest{file: "test", obj: cj}, cj))
	return &cronSim{simulation: s, t: t, ctx: ctx, progress: &progress}
}

// until advances the simulation to simStart + d.
func (c *cronSim) until(d time.Duration) {
	c.t.Helper()
	require.NoError(c.t, c.advance(c.ctx, simAt(d).Sub(c.clock.Now())))
}

func (c *cronSim) cronJob(name string) *batchv1.CronJob {
	c.t.Helper()
	cj, err := c.client.BatchV1().CronJobs(metav1.NamespaceDefault).Get(c.ctx, name, metav1.GetOptions{})
	require.NoError(c.t, err)
	return cj
}

func (c *cronSim) jobs() []batchv1.Job {
	c.t.Helper()
	list, err := c.client.BatchV1().Jobs(metav1.NamespaceDefault).List(c.ctx, metav1.ListOptions{})
	require.NoError(c.t, err)
	sortByCreation(list.Items)
	return list.Items
}

func (c *cronSim) pods() []corev1.Pod {
	c.t.Helper()
	list, err := c.client.CoreV1().Pods(metav1.NamespaceDefault).List(c.ctx, metav1.ListOptions{})
	require.NoError(c.t, err)
	return list.Items
}

// events returns the CronJob events of one reason, with their counts.
func (c *cronSim) events(reason string) []corev1.Event {
	c.t.Helper()
	list, err := c.client.CoreV1().Events(metav1.NamespaceDefault).List(c.ctx, metav1.ListOptions{
		FieldSelector: fields.SelectorFromSet(fields.Set{"involvedObject.kind": "CronJob", "reason": reason}).String(),
	})
	require.NoError(c.t, err)
	return list.Items
}

func eventCount(events []corev1.Event) int32 {
	var n int32
	for _, e := range events {
		n += e.Count
	}
	return n
}

var finishedLine = regexp.MustCompile(`(?m)^\[\+([^\]]+)\]\s+job/(\S+)\s+(?:Complete|Failed)\s`)

// timeline reads, from the progress lines (which have the virtual clock's
// full precision; API timestamps have whole seconds), when each Job was
// created by its CronJob and when it finished.
func (c *cronSim) timeline() (created, finished map[string]time.Duration) {
	c.t.Helper()
	parse := func(re *regexp.Regexp) map[string]time.Duration {
		out := map[string]time.Duration{}
		for _, m := range re.FindAllStringSubmatch(c.progress.String(), -1) {
			d, err := time.ParseDuration(m[1])
			require.NoError(c.t, err)
			out[m[2]] = d
		}
		return out
	}
	return parse(createdLine), parse(finishedLine)
}

// writes returns the API writes the cluster recorded, as "verb resource
// name", for checking the order of deletes and creates.
func (c *cronSim) writes(resource string) []string {
	var out []string
	for _, a := range c.cluster.Fake().Actions() {
		if a.GetResource().Resource != resource || a.GetSubresource() != "" {
			continue
		}
		switch a := a.(type) {
		case k8stesting.CreateAction:
			if m, err := meta.Accessor(a.GetObject()); err == nil {
				out = append(out, "create "+m.GetName())
			}
		case k8stesting.DeleteAction:
			out = append(out, "delete "+a.GetName())
		}
	}
	return out
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

// scriptedCronJob is a CronJob whose pods run for `run` and exit 0.
func scriptedCronJob(name, schedule string, policy batchv1.ConcurrencyPolicy, run time.Duration, mods ...func(*batchv1.CronJob)) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceDefault},
		Spec: batchv1.CronJobSpec{
			Schedule:          schedule,
			ConcurrencyPolicy: policy,
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"sim.kjob.dev/duration": run.String()}},
					Spec: corev1.PodSpec{
						RestartPolicy: corev1.RestartPolicyNever,
						Containers:    []corev1.Container{{Name: "work", Image: "busybox"}},
					},
				},
			}},
		},
	}
	for _, mod := range mods {
		mod(cj)
	}
	return cj
}

// createManualJob does what `kubectl create job NAME --from=cronjob/CJ`
// does: a Job from the template, controlled by the CronJob, marked manual.
func (c *cronSim) createManualJob(name string, cj *batchv1.CronJob) *batchv1.Job {
	c.t.Helper()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: cj.Namespace,
			Annotations: map[string]string{"cronjob.kubernetes.io/instantiate": "manual"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: ptr.To(true),
			}},
		},
		Spec: *cj.Spec.JobTemplate.Spec.DeepCopy(),
	}
	created, err := c.client.BatchV1().Jobs(cj.Namespace).Create(c.ctx, job, metav1.CreateOptions{})
	require.NoError(c.t, err)
	return created
}

// byOutcome splits Jobs by how they ended, keeping their order.
func byOutcome(jobs []batchv1.Job) (complete, failed, running []string) {
	for _, j := range jobs {
		switch jobStatus(&j) {
		case "Complete":
			complete = append(complete, j.Name)
		case "Failed":
			failed = append(failed, j.Name)
		default:
			running = append(running, j.Name)
		}
	}
	return complete, failed, running
}

func refNames(refs []corev1.ObjectReference) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Name)
	}
	return out
}

func jobNames(jobs []batchv1.Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.Name)
	}
	return out
}

func decodeCronList(t *testing.T, out string) ([]batchv1.CronJob, []batchv1.Job, []corev1.Pod) {
	t.Helper()
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &list), "stdout is one JSON document")
	var cronJobs []batchv1.CronJob
	var jobs []batchv1.Job
	var pods []corev1.Pod
	for _, raw := range list.Items {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(raw, nil, nil)
		require.NoError(t, err)
		switch o := obj.(type) {
		case *batchv1.CronJob:
			cronJobs = append(cronJobs, *o)
		case *batchv1.Job:
			jobs = append(jobs, *o)
		case *corev1.Pod:
			pods = append(pods, *o)
		}
	}
	sortByCreation(jobs)
	return cronJobs, jobs, pods
}
