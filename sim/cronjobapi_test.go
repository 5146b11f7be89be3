package sim_test

import (
	"context"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/sim"
)

// testCronJob is a minimal valid CronJob, before defaulting.
func testCronJob(name string, mutate ...func(*batchv1.CronJob)) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace},
		Spec: batchv1.CronJobSpec{
			Schedule:    "*/5 * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: testJob("template").Spec},
		},
	}
	for _, m := range mutate {
		m(cj)
	}
	return cj
}

func TestCronJobDefaults(t *testing.T) {
	c, _ := newTestCluster(t)
	out, err := c.Client().BatchV1().CronJobs(testNamespace).Create(context.Background(), testCronJob("hello"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := out.Spec
	if spec.ConcurrencyPolicy != batchv1.AllowConcurrent || !ptr.Equal(spec.Suspend, ptr.To(false)) ||
		!ptr.Equal(spec.SuccessfulJobsHistoryLimit, ptr.To[int32](3)) || !ptr.Equal(spec.FailedJobsHistoryLimit, ptr.To[int32](1)) {
		t.Errorf("defaults: got policy %q, suspend %v, history %v/%v; want Allow, false, 3/1", spec.ConcurrencyPolicy,
			ptr.Deref(spec.Suspend, true), ptr.Deref(spec.SuccessfulJobsHistoryLimit, -1), ptr.Deref(spec.FailedJobsHistoryLimit, -1))
	}
	if out.Spec.JobTemplate.Spec.Completions != nil {
		t.Errorf("the Job template is not defaulted as a Job: completions %v", *out.Spec.JobTemplate.Spec.Completions)
	}
}

func TestCronJobValidation(t *testing.T) {
	cases := []struct {
		name    string
		cj      *batchv1.CronJob
		wantErr string // a field path the error must name; "" for valid
	}{
		{name: "valid", cj: testCronJob("hello")},
		{name: "descriptor", cj: testCronJob("hello", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "@hourly" })},
		{name: "with a time zone", cj: testCronJob("hello", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("America/New_York") })},
		{name: "Feb 30 parses", cj: testCronJob("hello", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "0 0 30 2 *" })},
		{name: "52 characters", cj: testCronJob(strings.Repeat("a", 52))},
		{name: "53 characters", cj: testCronJob(strings.Repeat("a", 53)), wantErr: "metadata.name"},
		{name: "no schedule", cj: testCronJob("hello", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "" }), wantErr: "spec.schedule"},
		{name: "unparseable schedule", cj: testCronJob("hello", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "61 * * * *" }), wantErr: "spec.schedule"},
		{name: "TZ in the schedule", cj: testCronJob("hello", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "TZ=UTC 0 * * * *" }), wantErr: "use timeZone field instead"},
		{name: "unknown time zone", cj: testCronJob("hello", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Mars/Olympus") }), wantErr: "spec.timeZone"},
		{name: "Local", cj: testCronJob("hello", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Local") }), wantErr: "spec.timeZone"},
		{name: "empty time zone", cj: testCronJob("hello", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("") }), wantErr: "spec.timeZone"},
		{name: "unknown policy", cj: testCronJob("hello", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = "Sometimes" }), wantErr: "spec.concurrencyPolicy"},
		{name: "negative deadline", cj: testCronJob("hello", func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptr.To[int64](-1) }), wantErr: "spec.startingDeadlineSeconds"},
		{name: "negative history", cj: testCronJob("hello", func(cj *batchv1.CronJob) { cj.Spec.FailedJobsHistoryLimit = ptr.To[int32](-1) }), wantErr: "spec.failedJobsHistoryLimit"},
		{
			name:    "a selector of its own",
			cj:      testCronJob("hello", func(cj *batchv1.CronJob) { cj.Spec.JobTemplate.Spec.Selector = &metav1.LabelSelector{} }),
			wantErr: "spec.jobTemplate.spec.selector",
		},
		{
			name:    "manualSelector",
			cj:      testCronJob("hello", func(cj *batchv1.CronJob) { cj.Spec.JobTemplate.Spec.ManualSelector = ptr.To(true) }),
			wantErr: "spec.jobTemplate.spec.manualSelector",
		},
		{
			name: "an invalid Job spec",
			cj: testCronJob("hello", func(cj *batchv1.CronJob) {
				cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
			}),
			wantErr: "spec.jobTemplate.spec.template.spec.restartPolicy",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestCluster(t)
			_, err := c.Client().BatchV1().CronJobs(testNamespace).Create(context.Background(), tc.cj, metav1.CreateOptions{})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.wantErr != "" && !apierrors.IsInvalid(err):
				t.Fatalf("got %v, want an Invalid error naming %s", err, tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("got %v, want it to name %s", err, tc.wantErr)
			}
		})
	}
}

// TestCronJobUpdateKeepsLegacyTZ: a stored schedule with TZ= may be kept
// (and changed) on update, but not combined with timeZone.
func TestCronJobUpdateKeepsLegacyTZ(t *testing.T) {
	c, _ := newTestCluster(t)
	ctx := context.Background()
	cronJobs := c.Client().BatchV1().CronJobs(testNamespace)
	stored, err := cronJobs.Create(ctx, testCronJob("hello"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored.Spec.Schedule = "TZ=UTC 0 * * * *"
	if _, err := cronJobs.Update(ctx, stored, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("adding TZ= on update: got %v, want Invalid", err)
	}

	// A CronJob from before the rule, written around the API.
	legacy := testCronJob("legacy", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "TZ=UTC 0 * * * *" })
	sim.DefaultCronJob(legacy)
	legacy.ResourceVersion = "1"
	if err := c.Fake().Tracker().Add(legacy); err != nil {
		t.Fatal(err)
	}
	legacy, err = cronJobs.Get(ctx, "legacy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	legacy.Spec.Schedule = "TZ=UTC 30 * * * *"
	if legacy, err = cronJobs.Update(ctx, legacy, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("changing a legacy TZ= schedule: %v", err)
	}
	legacy.Spec.TimeZone = ptr.To("UTC")
	if _, err := cronJobs.Update(ctx, legacy, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("TZ= together with timeZone: got %v, want Invalid", err)
	}
}

// TestCronJobCascadingDeletion: the garbage collector follows a CronJob's
// controller references down to its Jobs and their pods, as the history
// limits and Replace rely on (Background), and as deleting the CronJob
// itself does.
func TestCronJobCascadingDeletion(t *testing.T) {
	ctx := context.Background()
	background := metav1.DeletePropagationBackground
	setup := func(t *testing.T) (*sim.Cluster, *batchv1.CronJob, []*batchv1.Job) {
		c, _ := newTestCluster(t)
		cj, err := c.Client().BatchV1().CronJobs(testNamespace).Create(ctx, testCronJob("hello"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var jobs []*batchv1.Job
		for _, name := range []string{"hello-1", "hello-2"} {
			job := createJob(t, c, testJob(name, func(j *batchv1.Job) {
				j.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(cj, batchv1.SchemeGroupVersion.WithKind("CronJob"))}
			}))
			unbound := func(p *corev1.Pod) { p.Spec.NodeName = "" }
			createPod(t, c, testPod(name+"-pod", ownedBy(job), unbound))
			jobs = append(jobs, job)
		}
		return c, cj, jobs
	}

	t.Run("a Job deleted in the background takes its pods", func(t *testing.T) {
		c, _, jobs := setup(t)
		if err := c.Client().BatchV1().Jobs(testNamespace).Delete(ctx, jobs[0].Name, metav1.DeleteOptions{PropagationPolicy: &background}); err != nil {
			t.Fatal(err)
		}
		if getJob(t, c, "hello-1") != nil || getPod(t, c, "hello-1-pod") != nil {
			t.Error("hello-1 or its pod is still there")
		}
		if getJob(t, c, "hello-2") == nil || getPod(t, c, "hello-2-pod") == nil {
			t.Error("hello-2 or its pod went too")
		}
	})
	t.Run("a CronJob deleted in the background takes its Jobs and their pods", func(t *testing.T) {
		c, cj, _ := setup(t)
		if err := c.Client().BatchV1().CronJobs(testNamespace).Delete(ctx, cj.Name, metav1.DeleteOptions{PropagationPolicy: &background}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"hello-1", "hello-2"} {
			if getJob(t, c, name) != nil || getPod(t, c, name+"-pod") != nil {
				t.Errorf("%s or its pod is still there", name)
			}
		}
	})
	t.Run("a second delete of a Job held by a finalizer changes nothing", func(t *testing.T) {
		c, _, jobs := setup(t)
		held := jobs[0].DeepCopy()
		held.Finalizers = []string{"example.com/hold"}
		if _, err := c.Client().BatchV1().Jobs(testNamespace).Update(ctx, held, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		opts := metav1.DeleteOptions{PropagationPolicy: &background}
		if err := c.Client().BatchV1().Jobs(testNamespace).Delete(ctx, held.Name, opts); err != nil {
			t.Fatal(err)
		}
		writes := c.Writes()
		if err := c.Client().BatchV1().Jobs(testNamespace).Delete(ctx, held.Name, opts); err != nil {
			t.Fatalf("deleting again: %v", err)
		}
		if c.Writes() != writes {
			t.Error("the second delete wrote something")
		}
	})
}
