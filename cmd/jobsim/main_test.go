package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/kjob-dev/kjob/controller"
)

func testdata(name string) string { return filepath.Join("..", "..", "testdata", name) }

// runJobsim runs the command in-process and returns its exit code and output.
func runJobsim(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// decodeList reads the -o json output back into typed Jobs and Pods.
func decodeList(t *testing.T, out string) ([]batchv1.Job, []v1.Pod) {
	t.Helper()
	var list struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Items      []json.RawMessage `json:"items"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &list), "stdout is one JSON document")
	assert.Equal(t, "v1", list.APIVersion)
	assert.Equal(t, "List", list.Kind)
	var jobs []batchv1.Job
	var pods []v1.Pod
	for _, raw := range list.Items {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(raw, nil, nil)
		require.NoError(t, err)
		switch o := obj.(type) {
		case *batchv1.Job:
			jobs = append(jobs, *o)
		case *v1.Pod:
			pods = append(pods, *o)
		default:
			t.Fatalf("unexpected item %T", obj)
		}
	}
	return jobs, pods
}

func condition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if job.Status.Conditions[i].Type == t {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}

// TestHelloJobJSON is the acceptance check of the tutorial's Job.
func TestHelloJobJSON(t *testing.T) {
	code, out, errOut := runJobsim(t, "-o", "json", "-q", testdata("hello-job.yaml"))
	require.Equal(t, exitCompleted, code, "stderr: %s", errOut)
	jobs, pods := decodeList(t, out)
	require.Len(t, jobs, 1)
	job := jobs[0]
	assert.Equal(t, int32(16), job.Status.Succeeded)
	assert.Equal(t, int32(0), job.Status.Failed)
	assert.Equal(t, int32(0), job.Status.Active)
	complete := condition(&job, batchv1.JobComplete)
	require.NotNil(t, complete)
	assert.Equal(t, v1.ConditionTrue, complete.Status)
	require.NotNil(t, job.Status.CompletionTime)
	assert.True(t, job.Status.CompletionTime.Equal(&complete.LastTransitionTime))

	require.Len(t, pods, 16)
	for _, p := range pods {
		assert.Equal(t, v1.PodSucceeded, p.Status.Phase, p.Name)
		assert.Equal(t, "simplejob", p.Labels[batchv1.JobNameLabel], p.Name)
		assert.Equal(t, "simplejob", p.Labels["job-name"], p.Name)
		ref := metav1.GetControllerOf(&p)
		require.NotNil(t, ref, p.Name)
		assert.Equal(t, job.UID, ref.UID)
		assert.NotContains(t, p.Finalizers, controller.JobTrackingFinalizer, p.Name)
		assert.True(t, strings.HasPrefix(p.Name, "simplejob-"), p.Name)
	}
}

// TestHelloJobOutput checks what `make run` shows: 16 distinct greetings
// from the pods themselves and the final tables.
func TestHelloJobOutput(t *testing.T) {
	code, out, errOut := runJobsim(t, testdata("hello-job.yaml"))
	require.Equal(t, exitCompleted, code, "stderr: %s", errOut)
	greetings := regexp.MustCompile(`Hello from (simplejob-[a-z0-9]{5})\b`).FindAllStringSubmatch(out, -1)
	distinct := map[string]bool{}
	for _, g := range greetings {
		distinct[g[1]] = true
	}
	assert.Len(t, distinct, 16, "16 pods greeted")
	assert.Regexp(t, `(?m)^simplejob\s+Complete\s+16/16\s`, out)
	assert.Contains(t, out, "$ kubectl get pods -o wide")
	assert.Equal(t, 16, strings.Count(out, " Completed "), "16 pods show STATUS Completed")
}

// TestFailingJobBackoff: backoffLimit 2, every pod exits 1 → Failed with
// failed=3; replacements wait 10 s then 20 s after each failure (rule S4).
func TestFailingJobBackoff(t *testing.T) {
	code, out, errOut := runJobsim(t, "-o", "json", "-q", testdata("failing-job.yaml"))
	require.Equal(t, exitFailed, code, "stderr: %s", errOut)
	jobs, pods := decodeList(t, out)
	require.Len(t, jobs, 1)
	job := jobs[0]
	assert.Equal(t, int32(3), job.Status.Failed)
	failed := condition(&job, batchv1.JobFailed)
	require.NotNil(t, failed)
	assert.Equal(t, controller.ReasonBackoffLimitExceeded, failed.Reason)
	require.NotNil(t, condition(&job, batchv1.JobFailureTarget))

	require.Len(t, pods, 3)
	sortPodsByCreation(pods)
	var gaps []time.Duration
	for i := 1; i < len(pods); i++ {
		finished := pods[i-1].Status.ContainerStatuses[0].State.Terminated.FinishedAt.Time
		gaps = append(gaps, pods[i].CreationTimestamp.Sub(finished))
	}
	assert.Equal(t, []time.Duration{10 * time.Second, 20 * time.Second}, gaps)
}

func TestWorkQueueJob(t *testing.T) {
	code, out, errOut := runJobsim(t, "-o", "json", "-q", testdata("work-queue-job.yaml"))
	require.Equal(t, exitCompleted, code, "stderr: %s", errOut)
	jobs, pods := decodeList(t, out)
	require.Len(t, jobs, 1)
	assert.Len(t, pods, 3, "no pod is started after the first success")
	assert.Equal(t, int32(3), jobs[0].Status.Succeeded)
	assert.Equal(t, "Complete", jobStatus(&jobs[0]))
}

func TestOnFailureRestartsInPlace(t *testing.T) {
	code, out, errOut := runJobsim(t, "-o", "json", "-q", testdata("onfailure-restarts.yaml"))
	require.Equal(t, exitCompleted, code, "stderr: %s", errOut)
	jobs, pods := decodeList(t, out)
	require.Len(t, pods, 1, "restarts happen inside the one pod")
	assert.Equal(t, int32(2), pods[0].Status.ContainerStatuses[0].RestartCount)
	assert.Equal(t, int32(1), jobs[0].Status.Succeeded)
	assert.Equal(t, int32(0), jobs[0].Status.Failed)
}

const cronWithAnnotation = `apiVersion: batch/v1
kind: CronJob
metadata:
  name: hello
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        metadata:
          annotations:
            sim.kjob.dev/runtime: docker
        spec:
          restartPolicy: Never
          containers:
          - name: c
            image: busybox
`

// TestBadInput: every kind of bad input exits 2 with one line that names
// the file and what is wrong, and never panics.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	hello, err := os.ReadFile(testdata("hello-job.yaml"))
	require.NoError(t, err)
	cases := []struct {
		name string
		args []string
		want []string // substrings of stderr
	}{
		{name: "no file", args: nil, want: []string{"usage"}},
		{name: "missing file", args: []string{filepath.Join(dir, "nope.yaml")}, want: []string{"nope.yaml", "cannot read"}},
		{name: "invalid YAML", args: []string{write("broken.yaml", "apiVersion: batch/v1\nkind: Job\nmetadata: [\n")},
			want: []string{"broken.yaml"}},
		{name: "unsupported kind", args: []string{write("deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n")},
			want: []string{"deploy.yaml", "unsupported kind", "Deployment"}},
		{name: "unknown field", args: []string{write("typo.yaml", strings.Replace(string(hello), "completions:", "completionz:", 1))},
			want: []string{"typo.yaml", "completionz"}},
		{name: "spec the apiserver rejects", args: []string{write("negative.yaml", strings.Replace(string(hello), "parallelism: 4", "parallelism: -1", 1))},
			want: []string{"negative.yaml", `Job "simplejob"`, "spec.parallelism"}},
		{name: "restartPolicy Always", args: []string{write("always.yaml", strings.Replace(string(hello), "restartPolicy: OnFailure", "restartPolicy: Always", 1))},
			want: []string{"always.yaml", "spec.template.spec.restartPolicy"}},
		{name: "unreadable sim annotation", args: []string{write("annotated.yaml", strings.Replace(string(hello),
			"      name: hello\n", "      name: hello\n      annotations:\n        sim.kjob.dev/exit-codes: \"1,x\"\n        sim.kjob.dev/duration: soon\n", 1))},
			want: []string{"annotated.yaml", `Job "simplejob"`, "spec.template.metadata.annotations",
				`annotation sim.kjob.dev/duration="soon"`, `annotation sim.kjob.dev/exit-codes="1,x"`}},
		{name: "unreadable sim annotation in a CronJob", args: []string{write("cron-annotated.yaml", cronWithAnnotation)},
			want: []string{"cron-annotated.yaml", `CronJob "hello"`, "spec.jobTemplate.spec.template.metadata.annotations",
				`annotation sim.kjob.dev/runtime="docker"`}},
		{name: "empty file", args: []string{write("empty.yaml", "")}, want: []string{"empty.yaml: no objects found"}},
		{name: "separators only", args: []string{write("separators.yaml", "---\n---\n")}, want: []string{"separators.yaml: no objects found"}},
		{name: "separators and comments", args: []string{write("commented.yaml", "# nothing yet\n--- # first\n...\n---\n")},
			want: []string{"commented.yaml: no objects found"}},
		{name: "unknown output format", args: []string{"-o", "yaml", testdata("hello-job.yaml")}, want: []string{"-o"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runJobsim(t, tc.args...)
			assert.Equal(t, exitBadInput, code)
			for _, w := range tc.want {
				assert.Contains(t, errOut, w)
			}
			assert.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
		})
	}
}

// TestEmptyListJSON: when nothing is left at the end (the TTL controller
// deleted the only Job), -o json prints "items": [] as kubectl does, not
// "items": null.
func TestEmptyListJSON(t *testing.T) {
	code, out, errOut := runJobsim(t, "-o", "json", "-q", testdata("ttl-job.yaml"))
	require.Equal(t, exitCompleted, code, "stderr: %s", errOut)
	var list map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(out), &list))
	assert.JSONEq(t, `[]`, string(list["items"]))
}

// TestMaxPods: a Job that asks for 2147483647 pods at once stops at the
// --max-pods safety limit with exit status 1 and a line naming the flag,
// instead of creating pods until memory runs out.
func TestMaxPods(t *testing.T) {
	file := filepath.Join(t.TempDir(), "huge.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`apiVersion: batch/v1
kind: Job
metadata:
  name: huge
spec:
  completions: 2147483647
  parallelism: 2147483647
  template:
    metadata:
      annotations:
        sim.kjob.dev/duration: 1h
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
`), 0o644))
	code, out, errOut := runJobsim(t, "--max-pods", "20", "-o", "json", "-q", file)
	assert.Equal(t, exitFailed, code, "stderr: %s", errOut)
	assert.Contains(t, errOut, "jobsim: stopped after 20 pods were created: --max-pods 20 reached")
	_, pods := decodeList(t, out)
	assert.Len(t, pods, 20)

	code, _, errOut = runJobsim(t, "--max-pods", "-1", file)
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, errOut, "jobsim: --max-pods -1: want 0 (no limit) or more")
}

// TestInterleavedFlags: flags may follow or sit between file names, as
// kubectl accepts them; "--" ends the flags.
func TestInterleavedFlags(t *testing.T) {
	hello, ttl := testdata("hello-job.yaml"), testdata("ttl-job.yaml")
	code, out, errOut := runJobsim(t, hello, "-q", "-o", "json")
	require.Equal(t, exitCompleted, code, "stderr: %s", errOut)
	jobs, _ := decodeList(t, out)
	assert.Len(t, jobs, 1)
	assert.NotContains(t, errOut, "simplejob", "-q after the file: no progress lines")

	code, out, errOut = runJobsim(t, "-o", "json", hello, "--seed", "7", ttl, "-q")
	require.Equal(t, exitCompleted, code, "stderr: %s", errOut)
	jobs, _ = decodeList(t, out)
	assert.Len(t, jobs, 1, "both files ran; the TTL Job is deleted")

	files, err := parseInterleaved(flag.NewFlagSet("t", flag.ContinueOnError), []string{"a.yaml", "--", "-q", "b.yaml"})
	require.NoError(t, err)
	assert.Equal(t, []string{"a.yaml", "-q", "b.yaml"}, files)

	code, _, errOut = runJobsim(t, hello, "--", "-q")
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, errOut, "-q: cannot read")

	code, _, errOut = runJobsim(t, hello, "--workers", "0")
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, errOut, "--workers 0")
}

// TestFlagValues: a flag value that cannot work is refused before anything
// runs, with exit status 2 and one line naming the flag (not a field of an
// internal struct), instead of hanging or being silently replaced.
func TestFlagValues(t *testing.T) {
	hello := testdata("hello-job.yaml")
	cases := []struct {
		args     []string
		wantCode int
		want     string // substring of stderr
	}{
		{args: []string{"--workers", "0"}, wantCode: exitBadInput, want: "jobsim: --workers 0: want 1 or more"},
		{args: []string{"--workers", "-3"}, wantCode: exitBadInput, want: "jobsim: --workers -3: want 1 or more"},
		{args: []string{"--nodes", "0"}, wantCode: exitBadInput, want: "jobsim: --nodes 0: want 1 to 254"},
		{args: []string{"--nodes", "-1"}, wantCode: exitBadInput, want: "jobsim: --nodes -1: want 1 to 254"},
		{args: []string{"--nodes", "255"}, wantCode: exitBadInput, want: "jobsim: --nodes 255: want 1 to 254"},
		{args: []string{"--runtime", "bogus"}, wantCode: exitBadInput, want: `jobsim: --runtime "bogus": want auto, exec or scripted`},
		{args: []string{"--timeout", "-1s"}, wantCode: exitBadInput, want: "jobsim: --timeout -1s: want 0 or more"},
		{args: []string{"--for", "-1h"}, wantCode: exitBadInput, want: "jobsim: --for -1h0m0s: want 0 (off) or more"},
		{args: []string{"--queue", "fifo"}, wantCode: exitBadInput, want: `jobsim: --queue: workqueue implementation "fifo"`},
		{args: []string{"--workers", "1", "--nodes", "1", "-q"}, wantCode: exitCompleted},
		{args: []string{"--nodes", "254", "--runtime", "exec", "-q"}, wantCode: exitCompleted},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, errOut := runJobsim(t, append(tc.args, hello)...)
			assert.Equal(t, tc.wantCode, code, "stderr: %s", errOut)
			if tc.want != "" {
				assert.Contains(t, errOut, tc.want)
				assert.NotContains(t, errOut, "NodeCount")
				assert.NotContains(t, errOut, "DefaultRuntime")
				assert.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
			}
		})
	}
}

var _ runtime.Object = (*batchv1.Job)(nil)
