package cronjob

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

var (
	jobsResource     = schema.GroupResource{Group: "batch", Resource: "jobs"}
	cronJobsResource = schema.GroupResource{Group: "batch", Resource: "cronjobs"}
	errBoom          = apierrors.NewInternalError(errors.New("boom"))
)

// Slots of the test CronJob ("*/5 * * * *", created at 00:00).
var (
	slot5  = at(5 * time.Minute)
	slot10 = at(10 * time.Minute)
	slot15 = at(15 * time.Minute)
)

// TestSync is the table of sync decisions: for a CronJob, its Jobs and a
// time, the exact API calls, Events, status and requeue. Events ending in
// "*" match by prefix (their tail is an error text).
func TestSync(t *testing.T) {
	type tc struct {
		cronJob *batchv1.CronJob
		jobs    []*batchv1.Job
		// inAPI are further objects the API has and the cache does not
		// (yet): a newer CronJob, a Job the watch has not delivered.
		inAPI []runtime.Object
		now   time.Time
		setup func(*fixture)

		wantActions []string
		wantEvents  []string
		// Checked only when the sync wrote a status.
		wantActive         []string
		wantLastSchedule   time.Time
		wantLastSuccessful time.Time
		wantRequeue        *time.Duration
		wantErr            bool
	}
	after := func(d time.Duration) *time.Duration { return &d }
	j5 := child(cronJob(), slot5, running)
	j5done := child(cronJob(), slot5, complete)
	j5failed := child(cronJob(), slot5, failed)
	manual := child(cronJob(), slot5, running)
	manual.Name, manual.UID = "manual-1", "uid-manual-1"
	manual.Annotations = map[string]string{"cronjob.kubernetes.io/instantiate": "manual"}

	cases := map[string]tc{
		"first start time: the Job is created and recorded": {
			cronJob:          cronJob(),
			now:              slot5.Add(NextScheduleDelta),
			wantActions:      []string{"create jobs " + nameAt(slot5), "update cronjobs/status hello"},
			wantEvents:       []string{"Normal SuccessfulCreate Created job " + nameAt(slot5)},
			wantActive:       []string{nameAt(slot5)},
			wantLastSchedule: slot5,
			wantRequeue:      after(5 * time.Minute),
		},
		"nothing due: only a timer for the next start time": {
			cronJob:     cronJob(),
			now:         at(4 * time.Minute),
			wantRequeue: after(time.Minute + NextScheduleDelta),
		},
		"suspended: nothing, and no timer": {
			cronJob: cronJob(func(cj *batchv1.CronJob) { cj.Spec.Suspend = ptr.To(true) }),
			now:     at(time.Hour),
		},
		"resumed after a long suspension: one Job, for the latest start time": {
			cronJob:          cronJob(lastScheduled(slot5)),
			now:              at(time.Hour + time.Second),
			wantActions:      []string{"create jobs " + nameAt(at(time.Hour)), "update cronjobs/status hello"},
			wantEvents:       []string{"Normal SuccessfulCreate Created job " + nameAt(at(time.Hour))},
			wantActive:       []string{nameAt(at(time.Hour))},
			wantLastSchedule: at(time.Hour),
			wantRequeue:      after(5*time.Minute - time.Second + NextScheduleDelta),
		},
		"being deleted: the status is still kept, nothing is started": {
			cronJob: cronJob(listing(j5done), func(cj *batchv1.CronJob) {
				cj.DeletionTimestamp = ptr.To(metav1.NewTime(at(time.Minute)))
				cj.Finalizers = []string{"foregroundDeletion"}
			}),
			jobs:               []*batchv1.Job{j5done},
			now:                slot10.Add(NextScheduleDelta),
			wantActions:        []string{"update cronjobs/status hello"},
			wantEvents:         []string{"Normal SawCompletedJob Saw completed job: " + nameAt(slot5) + ", condition: Complete"},
			wantLastSuccessful: slot5.Add(time.Minute),
		},
		"unknown timeZone: a warning, nothing scheduled, no timer": {
			cronJob:    cronJob(func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Mars/Olympus") }),
			now:        slot5.Add(NextScheduleDelta),
			wantEvents: []string{`Warning UnknownTimeZone invalid timeZone: "Mars/Olympus": *`},
		},
		"TZ= inside the schedule: a warning at each sync, and the schedule runs": {
			cronJob: cronJob(func(cj *batchv1.CronJob) { cj.Spec.Schedule = "TZ=Etc/UTC */5 * * * *" }),
			now:     slot5.Add(NextScheduleDelta),
			wantEvents: []string{
				`Warning UnsupportedSchedule CRON_TZ or TZ used in schedule "TZ=Etc/UTC */5 * * * *" is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details`,
				"Normal SuccessfulCreate Created job " + nameAt(slot5),
			},
			wantActions:      []string{"create jobs " + nameAt(slot5), "update cronjobs/status hello"},
			wantActive:       []string{nameAt(slot5)},
			wantLastSchedule: slot5,
			wantRequeue:      after(5 * time.Minute),
		},
		"a schedule that does not parse: a warning, no timer": {
			cronJob:    cronJob(func(cj *batchv1.CronJob) { cj.Spec.Schedule = "61 * * * *" }),
			now:        slot5,
			wantEvents: []string{`Warning UnparseableSchedule unparseable schedule: "61 * * * *" : *`},
		},
		"Feb 30: parses, never comes; InvalidSchedule and no timer": {
			cronJob:    cronJob(func(cj *batchv1.CronJob) { cj.Spec.Schedule = "0 0 30 2 *" }),
			now:        at(400 * 24 * time.Hour),
			wantEvents: []string{"Warning InvalidSchedule invalid schedule: 0 0 30 2 * : the schedule has no start time within five years*"},
		},
		"more than 100 missed start times: a warning, and one Job for the latest": {
			cronJob: cronJob(func(cj *batchv1.CronJob) { cj.Spec.Schedule = "* * * * *" }),
			now:     at(3*time.Hour + 30*time.Second),
			wantEvents: []string{
				"Warning TooManyMissedTimes " + MessageTooManyMissedTimes,
				"Normal SuccessfulCreate Created job " + nameAt(at(3*time.Hour)),
			},
			wantActions:      []string{"create jobs " + nameAt(at(3*time.Hour)), "update cronjobs/status hello"},
			wantActive:       []string{nameAt(at(3 * time.Hour))},
			wantLastSchedule: at(3 * time.Hour),
			wantRequeue:      after(30*time.Second + NextScheduleDelta),
		},
		"a start time older than startingDeadlineSeconds: MissSchedule, no Job": {
			cronJob: cronJob(func(cj *batchv1.CronJob) {
				cj.Spec.Schedule = "0 * * * *"
				cj.Spec.StartingDeadlineSeconds = ptr.To[int64](10)
			}),
			now:         at(time.Hour + 12*time.Second),
			wantEvents:  []string{"Warning MissSchedule Missed scheduled time to start a job: Sun, 01 Mar 2026 01:00:00 +0000"},
			wantRequeue: after(time.Hour - 12*time.Second + NextScheduleDelta),
		},
		"the start time's Job is listed already: wait for the next": {
			cronJob:     cronJob(listing(j5)),
			jobs:        []*batchv1.Job{j5},
			now:         slot5.Add(time.Second),
			wantRequeue: after(5*time.Minute - time.Second + NextScheduleDelta),
		},
		"Forbid with a running Job: skipped, lastScheduleTime kept": {
			cronJob:     cronJob(policy(batchv1.ForbidConcurrent), lastScheduled(slot5), listing(j5)),
			jobs:        []*batchv1.Job{j5},
			now:         slot10.Add(NextScheduleDelta),
			wantEvents:  []string{"Normal JobAlreadyActive " + MessageJobAlreadyActive},
			wantRequeue: after(5 * time.Minute),
		},
		"Forbid once the running Job finished: the skipped start time runs late (F19)": {
			cronJob: cronJob(policy(batchv1.ForbidConcurrent), lastScheduled(slot5), listing(j5done)),
			jobs:    []*batchv1.Job{j5done},
			now:     at(12 * time.Minute),
			wantEvents: []string{
				"Normal SawCompletedJob Saw completed job: " + nameAt(slot5) + ", condition: Complete",
				"Normal SuccessfulCreate Created job " + nameAt(slot10),
			},
			wantActions:        []string{"create jobs " + nameAt(slot10), "update cronjobs/status hello"},
			wantActive:         []string{nameAt(slot10)},
			wantLastSchedule:   slot10,
			wantLastSuccessful: slot5.Add(time.Minute),
			wantRequeue:        after(3*time.Minute + NextScheduleDelta),
		},
		"Replace: the running Job is deleted before the new one is created": {
			cronJob: cronJob(policy(batchv1.ReplaceConcurrent), lastScheduled(slot5), listing(j5)),
			jobs:    []*batchv1.Job{j5},
			now:     slot10.Add(NextScheduleDelta),
			wantActions: []string{
				"get jobs " + nameAt(slot5), "delete jobs " + nameAt(slot5),
				"create jobs " + nameAt(slot10), "update cronjobs/status hello",
			},
			wantEvents: []string{
				"Normal SuccessfulDelete Deleted job " + nameAt(slot5),
				"Normal SuccessfulCreate Created job " + nameAt(slot10),
			},
			wantActive:       []string{nameAt(slot10)},
			wantLastSchedule: slot10,
			wantRequeue:      after(5 * time.Minute),
		},
		"Replace: the running Job cannot be read: FailedGet, retry": {
			cronJob:     cronJob(policy(batchv1.ReplaceConcurrent), lastScheduled(slot5), listing(j5)),
			jobs:        []*batchv1.Job{j5},
			now:         slot10.Add(NextScheduleDelta),
			setup:       func(f *fixture) { f.failOn("get", "jobs", errBoom) },
			wantActions: []string{"get jobs " + nameAt(slot5)},
			wantEvents:  []string{"Warning FailedGet Get job: *"},
			wantErr:     true,
		},
		"Replace: the running Job cannot be deleted: FailedDelete, retry, nothing created": {
			cronJob:     cronJob(policy(batchv1.ReplaceConcurrent), lastScheduled(slot5), listing(j5)),
			jobs:        []*batchv1.Job{j5},
			now:         slot10.Add(NextScheduleDelta),
			setup:       func(f *fixture) { f.failOn("delete", "jobs", errBoom) },
			wantActions: []string{"get jobs " + nameAt(slot5), "delete jobs " + nameAt(slot5)},
			wantEvents:  []string{"Warning FailedDelete Deleted job: *"},
			wantErr:     true,
		},
		"Replace: the running Job vanished between get and delete: it counts as deleted": {
			cronJob: cronJob(policy(batchv1.ReplaceConcurrent), lastScheduled(slot5), listing(j5)),
			jobs:    []*batchv1.Job{j5},
			now:     slot10.Add(NextScheduleDelta),
			setup: func(f *fixture) {
				f.failOn("delete", "jobs", apierrors.NewNotFound(jobsResource, nameAt(slot5)))
			},
			wantActions: []string{
				"get jobs " + nameAt(slot5), "delete jobs " + nameAt(slot5),
				"create jobs " + nameAt(slot10), "update cronjobs/status hello",
			},
			wantEvents:       []string{"Normal SuccessfulCreate Created job " + nameAt(slot10)},
			wantActive:       []string{nameAt(slot10)},
			wantLastSchedule: slot10,
			wantRequeue:      after(5 * time.Minute),
		},
		"Allow: the new Job runs beside the running one": {
			cronJob:          cronJob(lastScheduled(slot5), listing(j5)),
			jobs:             []*batchv1.Job{j5},
			now:              slot10.Add(NextScheduleDelta),
			wantActions:      []string{"create jobs " + nameAt(slot10), "update cronjobs/status hello"},
			wantEvents:       []string{"Normal SuccessfulCreate Created job " + nameAt(slot10)},
			wantActive:       []string{nameAt(slot5), nameAt(slot10)},
			wantLastSchedule: slot10,
			wantRequeue:      after(5 * time.Minute),
		},
		"a running child not in status.active (kubectl create job --from): UnexpectedJob, never adopted": {
			cronJob:     cronJob(lastScheduled(slot5)),
			jobs:        []*batchv1.Job{manual},
			now:         at(7 * time.Minute),
			wantActions: []string{"get cronjobs hello"},
			wantEvents:  []string{"Warning UnexpectedJob Saw a job that the controller did not create or forgot: manual-1"},
			wantRequeue: after(3*time.Minute + NextScheduleDelta),
		},
		"a child the cached CronJob does not list but the API's does: not unexpected": {
			cronJob:     cronJob(lastScheduled(slot5)),
			inAPI:       []runtime.Object{cronJob(lastScheduled(slot5), listing(j5), func(cj *batchv1.CronJob) { cj.ResourceVersion = "11" })},
			jobs:        []*batchv1.Job{j5},
			now:         at(7 * time.Minute),
			wantActions: []string{"get cronjobs hello"},
			wantRequeue: after(3*time.Minute + NextScheduleDelta),
		},
		"a Job this controller deleted, still in the cache: neither unexpected nor missing": {
			cronJob:          cronJob(lastScheduled(slot5), listing(j5)),
			jobs:             []*batchv1.Job{j5},
			setup:            func(f *fixture) { f.ctrl.deleted.Store(j5.UID, struct{}{}) },
			now:              at(7 * time.Minute),
			wantActions:      []string{"update cronjobs/status hello"},
			wantLastSchedule: slot5,
			wantRequeue:      after(3*time.Minute + NextScheduleDelta),
		},
		"a listed Job finished as Failed: off the list, lastSuccessfulTime untouched": {
			cronJob:          cronJob(lastScheduled(slot5), listing(j5failed)),
			jobs:             []*batchv1.Job{j5failed},
			now:              at(7 * time.Minute),
			wantActions:      []string{"update cronjobs/status hello"},
			wantEvents:       []string{"Normal SawCompletedJob Saw completed job: " + nameAt(slot5) + ", condition: Failed"},
			wantLastSchedule: slot5,
			wantRequeue:      after(3*time.Minute + NextScheduleDelta),
		},
		"lastSuccessfulTime never moves back": {
			cronJob: cronJob(lastScheduled(slot10), func(cj *batchv1.CronJob) {
				cj.Status.LastSuccessfulTime = ptr.To(metav1.NewTime(slot10.Add(time.Minute)))
			}),
			jobs:        []*batchv1.Job{j5done},
			now:         at(12 * time.Minute),
			wantRequeue: after(3*time.Minute + NextScheduleDelta),
		},
		"a listed Job that is gone: MissingJob": {
			cronJob:          cronJob(lastScheduled(slot5), listing(j5)),
			now:              at(7 * time.Minute),
			wantActions:      []string{"get jobs " + nameAt(slot5), "update cronjobs/status hello"},
			wantEvents:       []string{"Normal MissingJob Active job went missing: " + nameAt(slot5)},
			wantLastSchedule: slot5,
			wantRequeue:      after(3*time.Minute + NextScheduleDelta),
		},
		"a listed Job the cache has not seen yet stays listed": {
			cronJob:     cronJob(lastScheduled(slot5), listing(j5)),
			inAPI:       []runtime.Object{j5},
			now:         at(7 * time.Minute),
			wantActions: []string{"get jobs " + nameAt(slot5)},
			wantRequeue: after(3*time.Minute + NextScheduleDelta),
		},
		"a listed Job replaced by a namesake: MissingJob": {
			cronJob: cronJob(lastScheduled(slot5), listing(j5)),
			inAPI: []runtime.Object{func() *batchv1.Job {
				other := j5.DeepCopy()
				other.UID, other.OwnerReferences = "someone-elses", nil
				return other
			}()},
			now:              at(7 * time.Minute),
			wantActions:      []string{"get jobs " + nameAt(slot5), "update cronjobs/status hello"},
			wantEvents:       []string{"Normal MissingJob Active job went missing: " + nameAt(slot5)},
			wantLastSchedule: slot5,
			wantRequeue:      after(3*time.Minute + NextScheduleDelta),
		},
		"the Job exists already, ours but unlisted (a lost status write): recorded, no event": {
			cronJob:          cronJob(lastScheduled(slot5)),
			inAPI:            []runtime.Object{child(cronJob(), slot10, running)},
			now:              slot10.Add(NextScheduleDelta),
			wantActions:      []string{"create jobs " + nameAt(slot10), "get jobs " + nameAt(slot10), "update cronjobs/status hello"},
			wantActive:       []string{nameAt(slot10)},
			wantLastSchedule: slot10,
			wantRequeue:      after(5 * time.Minute),
		},
		"the Job's name is taken by someone else's Job: nothing, no timer": {
			cronJob: cronJob(lastScheduled(slot5)),
			inAPI: []runtime.Object{func() *batchv1.Job {
				other := child(cronJob(), slot10, running)
				other.OwnerReferences = nil
				return other
			}()},
			now:         slot10.Add(NextScheduleDelta),
			wantActions: []string{"create jobs " + nameAt(slot10), "get jobs " + nameAt(slot10)},
		},
		"the namespace is terminating: retry, no event": {
			cronJob: cronJob(lastScheduled(slot5)),
			now:     slot10.Add(NextScheduleDelta),
			setup: func(f *fixture) {
				err := apierrors.NewForbidden(jobsResource, "", errors.New("namespace default is being terminated"))
				err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause}}
				f.failOn("create", "jobs", err)
			},
			wantActions: []string{"create jobs " + nameAt(slot10)},
			wantErr:     true,
		},
		"the create fails: FailedCreate, retry": {
			cronJob: cronJob(lastScheduled(slot5)),
			now:     slot10.Add(NextScheduleDelta),
			setup: func(f *fixture) {
				f.failOn("create", "jobs", apierrors.NewForbidden(jobsResource, "", errors.New("exceeded quota")))
			},
			wantActions: []string{"create jobs " + nameAt(slot10)},
			wantEvents:  []string{"Warning FailedCreate Error creating job: *exceeded quota"},
			wantErr:     true,
		},
		"the status write conflicts: retry the whole sync": {
			cronJob: cronJob(lastScheduled(slot5)),
			now:     slot10.Add(NextScheduleDelta),
			setup: func(f *fixture) {
				f.failOn("update", "cronjobs", apierrors.NewConflict(cronJobsResource, "hello", errors.New("stale")))
			},
			wantActions:      []string{"create jobs " + nameAt(slot10), "update cronjobs/status hello", "get cronjobs hello"},
			wantEvents:       []string{"Normal SuccessfulCreate Created job " + nameAt(slot10)},
			wantActive:       []string{nameAt(slot10)},
			wantLastSchedule: slot10,
			wantErr:          true,
		},
		"the status write conflicts, but the API has that status already: done": {
			cronJob: cronJob(lastScheduled(slot5), listing(j5done)),
			jobs:    []*batchv1.Job{j5done},
			inAPI: []runtime.Object{cronJob(lastScheduled(slot5), func(cj *batchv1.CronJob) {
				cj.ResourceVersion = "11"
				cj.Status.LastSuccessfulTime = j5done.Status.CompletionTime
			})},
			now: at(7 * time.Minute),
			setup: func(f *fixture) {
				f.failOn("update", "cronjobs", apierrors.NewConflict(cronJobsResource, "hello", errors.New("stale")))
			},
			wantActions:        []string{"update cronjobs/status hello", "get cronjobs hello"},
			wantEvents:         []string{"Normal SawCompletedJob Saw completed job: " + nameAt(slot5) + ", condition: Complete"},
			wantLastSchedule:   slot5,
			wantLastSuccessful: slot5.Add(time.Minute),
			wantRequeue:        after(3*time.Minute + NextScheduleDelta),
		},
		"a CronJob run by another controller is not touched": {
			cronJob: cronJob(listing(j5done), func(cj *batchv1.CronJob) {
				cj.Annotations = map[string]string{ManagedByAnnotation: "example.com/other"}
			}),
			jobs: []*batchv1.Job{j5done, child(cronJob(), at(-time.Hour), complete), child(cronJob(), at(-2*time.Hour), complete), child(cronJob(), at(-3*time.Hour), complete)},
			now:  slot10.Add(NextScheduleDelta),
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			objects := []runtime.Object{tc.cronJob}
			for _, j := range tc.jobs {
				objects = append(objects, j)
			}
			f := newFixture(t, tc.now, objects...)
			for _, obj := range tc.inAPI {
				if err := f.client.Tracker().Add(obj); apierrors.IsAlreadyExists(err) {
					require.NoError(t, f.client.Tracker().Update(batchv1.SchemeGroupVersion.WithResource("cronjobs"), obj, "default"))
				} else {
					require.NoError(t, err)
				}
			}
			if tc.setup != nil {
				tc.setup(f)
			}

			requeue, err := f.sync()

			if tc.wantErr {
				assert.Error(t, err)
			} else {
				assert.NoError(t, err)
			}
			assert.Equal(t, tc.wantActions, f.actions(), "API actions")
			assertEvents(t, tc.wantEvents, f.events())
			if tc.wantRequeue == nil {
				assert.Nil(t, requeue, "no requeue")
			} else if assert.NotNil(t, requeue, "a requeue") {
				assert.Equal(t, *tc.wantRequeue, *requeue, "requeue")
			}
			written := f.statusWritten()
			if written == nil {
				return
			}
			assert.Equal(t, tc.wantActive, activeNames(written), "status.active")
			assertTime(t, tc.wantLastSchedule, written.Status.LastScheduleTime, "lastScheduleTime")
			assertTime(t, tc.wantLastSuccessful, written.Status.LastSuccessfulTime, "lastSuccessfulTime")
		})
	}
}

// assertEvents compares recorded events; a wanted event ending in "*"
// matches any event starting with the rest, and a "*" inside matches any
// text there.
func assertEvents(t *testing.T, want, got []string) {
	t.Helper()
	if !assert.Len(t, got, len(want), "events: %q", got) {
		return
	}
	for i := range want {
		parts := strings.Split(want[i], "*")
		rest := got[i]
		ok := strings.HasPrefix(rest, parts[0])
		rest = strings.TrimPrefix(rest, parts[0])
		for _, p := range parts[1:] {
			idx := strings.Index(rest, p)
			ok = ok && idx >= 0
			if idx >= 0 {
				rest = rest[idx+len(p):]
			}
		}
		if len(parts) == 1 {
			ok = got[i] == want[i]
		}
		assert.True(t, ok, "event %d: got %q, want %q", i, got[i], want[i])
	}
}

func assertTime(t *testing.T, want time.Time, got *metav1.Time, what string) {
	t.Helper()
	if want.IsZero() {
		assert.Nil(t, got, what)
		return
	}
	if assert.NotNil(t, got, what) {
		assert.True(t, want.Equal(got.Time), "%s: got %v, want %v", what, got.Time.UTC(), want)
	}
}

// TestSyncCreatesTheJobFromTheTemplate pins every field of a created Job.
func TestSyncCreatesTheJobFromTheTemplate(t *testing.T) {
	cj := cronJob(func(cj *batchv1.CronJob) {
		cj.Spec.TimeZone = ptr.To("America/New_York")
		cj.Spec.Schedule = "0 19 * * *" // 00:00 UTC
	})
	f := newFixture(t, at(24*time.Hour+NextScheduleDelta), cj)
	var skews []time.Duration
	f.ctrl.observeSkew = func(d time.Duration) { skews = append(skews, d) }

	_, err := f.sync()
	require.NoError(t, err)
	require.Equal(t, []string{"create jobs " + nameAt(at(24*time.Hour)), "update cronjobs/status hello"}, f.actions())

	job := f.action(0).(interface{ GetObject() runtime.Object }).GetObject().(*batchv1.Job)
	assert.Equal(t, "hello-29540160", job.Name, "<cronjob>-<minutes since the epoch>")
	assert.Equal(t, "default", job.Namespace)
	assert.Equal(t, map[string]string{"app": "hello"}, job.Labels, "the template's labels")
	assert.Equal(t, map[string]string{
		"note": "from the template",
		"batch.kubernetes.io/cronjob-scheduled-timestamp": "2026-03-01T19:00:00-05:00",
	}, job.Annotations, "the template's annotations and the start time in the CronJob's zone")
	assert.Equal(t, []metav1.OwnerReference{{
		APIVersion: "batch/v1", Kind: "CronJob", Name: "hello", UID: "cronjob-uid",
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}}, job.OwnerReferences)
	assert.Equal(t, cj.Spec.JobTemplate.Spec, job.Spec, "the template's spec, unchanged")
	assert.Equal(t, []time.Duration{NextScheduleDelta}, skews, "creation skew, for Jobs this sync created")

	written := f.statusWritten()
	require.NotNil(t, written)
	assert.Equal(t, []corev1.ObjectReference{{Kind: "Job", APIVersion: "batch/v1", Namespace: "default", Name: job.Name}}, written.Status.Active)
}

// TestSyncWithoutTimeZoneUsesControllerZone: a schedule naming no zone is
// read in Config.Location, and the annotation is in UTC as upstream writes it.
func TestSyncWithoutTimeZoneUsesControllerZone(t *testing.T) {
	cj := cronJob(func(cj *batchv1.CronJob) { cj.Spec.Schedule = "0 19 * * *" })
	f := newFixture(t, at(24*time.Hour+NextScheduleDelta), cj)
	f.ctrl.location = newYork(t)

	_, err := f.sync()
	require.NoError(t, err)
	require.Equal(t, []string{"create jobs " + nameAt(at(24*time.Hour)), "update cronjobs/status hello"}, f.actions())
	job := f.action(0).(interface{ GetObject() runtime.Object }).GetObject().(*batchv1.Job)
	assert.Equal(t, "2026-03-02T00:00:00Z", job.Annotations[batchv1.CronJobScheduledTimestampAnnotation])
}

// TestSyncGoneCronJob: a key whose CronJob is gone is forgotten quietly.
func TestSyncGoneCronJob(t *testing.T) {
	f := newFixture(t, created)
	requeue, err := f.sync()
	assert.NoError(t, err)
	assert.Nil(t, requeue)
	assert.Empty(t, f.actions())
}

// TestSyncTwiceCreatesOnce: a second sync at the same instant (a status
// update event, say) finds the start time handled.
func TestSyncTwiceCreatesOnce(t *testing.T) {
	f := newFixture(t, slot5.Add(NextScheduleDelta), cronJob())
	_, err := f.sync()
	require.NoError(t, err)
	// The informers would deliver these; put them in the caches by hand.
	written := f.statusWritten()
	require.NotNil(t, written)
	require.NoError(t, f.cronJobs.Update(written))
	job, err := f.client.BatchV1().Jobs("default").Get(f.ctx, nameAt(slot5), metav1.GetOptions{})
	require.NoError(t, err)
	require.NoError(t, f.jobs.Add(job))
	f.client.ClearActions()
	f.events()

	requeue, err := f.sync()
	require.NoError(t, err)
	assert.Empty(t, f.actions())
	assert.Empty(t, f.events())
	assert.Equal(t, 5*time.Minute, *requeue)
}

// TestFieldReportF20: "1 0 * * *" with startingDeadlineSeconds 10, first
// evaluated 4 s late (the Job is created) or 12 s late (it is not: a
// MissSchedule warning, lastScheduleTime unchanged, and the next look is
// the following day's start time).
func TestFieldReportF20(t *testing.T) {
	daily := func() *batchv1.CronJob {
		return cronJob(lastScheduled(at(time.Minute-24*time.Hour)), func(cj *batchv1.CronJob) {
			cj.Spec.Schedule = "1 0 * * *"
			cj.Spec.StartingDeadlineSeconds = ptr.To[int64](10)
			cj.CreationTimestamp = metav1.NewTime(created.Add(-48 * time.Hour))
		})
	}
	slot := at(time.Minute) // 00:01:00

	t.Run("a: 4 s late", func(t *testing.T) {
		f := newFixture(t, slot.Add(4*time.Second), daily())
		requeue, err := f.sync()
		require.NoError(t, err)
		assert.Equal(t, []string{"create jobs " + nameAt(slot), "update cronjobs/status hello"}, f.actions())
		assertTime(t, slot, f.statusWritten().Status.LastScheduleTime, "lastScheduleTime")
		assert.Equal(t, 24*time.Hour-4*time.Second+NextScheduleDelta, *requeue)
	})
	t.Run("b: 12 s late", func(t *testing.T) {
		f := newFixture(t, slot.Add(12*time.Second), daily())
		requeue, err := f.sync()
		require.NoError(t, err)
		assert.Empty(t, f.actions(), "no Job, no status change")
		assertEvents(t, []string{"Warning MissSchedule Missed scheduled time to start a job: Sun, 01 Mar 2026 00:01:00 +0000"}, f.events())
		assert.Equal(t, 24*time.Hour-12*time.Second+NextScheduleDelta, *requeue, "next: tomorrow's start time")
	})
}

// TestSyncAcrossClockChanges: daylight saving time in the CronJob's zone and
// a controller clock that jumps, seen from the sync (the slot arithmetic is
// in TestFindDueSlot).
func TestSyncAcrossClockChanges(t *testing.T) {
	newYorkDaily := func(schedule string, last time.Time) *batchv1.CronJob {
		return cronJob(lastScheduled(last), func(cj *batchv1.CronJob) {
			cj.Spec.Schedule = schedule
			cj.Spec.TimeZone = ptr.To("America/New_York")
			cj.CreationTimestamp = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		})
	}
	utcTime := func(s string) time.Time { return utc(t, s) }
	cases := []struct {
		name        string
		cronJob     *batchv1.CronJob
		now         time.Time
		wantCreate  string // Job name; "" for none
		wantStamp   string // its scheduled-timestamp annotation
		wantRequeue time.Duration
	}{
		{
			name:        "spring forward: 02:30 does not exist on 8 March, no Job that day",
			cronJob:     newYorkDaily("30 2 * * *", utcTime("2026-03-07 07:30:00")),
			now:         utcTime("2026-03-08 07:30:00.1"),
			wantRequeue: 23 * time.Hour, // to 02:30 EDT on 9 March, +100 ms, from 02:30:00.1 EST
		},
		{
			name:        "fall back: the first 01:30, in EDT",
			cronJob:     newYorkDaily("30 1 * * *", utcTime("2026-10-31 05:30:00")),
			now:         utcTime("2026-11-01 05:30:00.1"),
			wantCreate:  jobName(cronJob(), utcTime("2026-11-01 05:30:00")),
			wantStamp:   "2026-11-01T01:30:00-04:00",
			wantRequeue: time.Hour,
		},
		{
			name:        "fall back: the second 01:30, in EST, an hour later and another Job",
			cronJob:     newYorkDaily("30 1 * * *", utcTime("2026-11-01 05:30:00")),
			now:         utcTime("2026-11-01 06:30:00.1"),
			wantCreate:  jobName(cronJob(), utcTime("2026-11-01 06:30:00")),
			wantStamp:   "2026-11-01T01:30:00-05:00",
			wantRequeue: 24 * time.Hour,
		},
		{
			name:        "clock jumped back behind lastScheduleTime: nothing runs again",
			cronJob:     cronJob(lastScheduled(slot15)),
			now:         at(7 * time.Minute),
			wantRequeue: 13*time.Minute + NextScheduleDelta,
		},
		{
			name:        "clock jumped forward an hour: one Job, for the latest start time",
			cronJob:     cronJob(lastScheduled(slot5)),
			now:         at(65*time.Minute + 30*time.Second),
			wantCreate:  nameAt(at(65 * time.Minute)),
			wantStamp:   "2026-03-01T01:05:00Z",
			wantRequeue: 4*time.Minute + 30*time.Second + NextScheduleDelta,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cronJob.Spec.TimeZone == nil {
				tc.cronJob.Spec.TimeZone = ptr.To("Etc/UTC")
			}
			f := newFixture(t, tc.now, tc.cronJob)
			requeue, err := f.sync()
			require.NoError(t, err)
			require.NotNil(t, requeue)
			assert.Equal(t, tc.wantRequeue, *requeue)
			if tc.wantCreate == "" {
				assert.Empty(t, f.actions())
				return
			}
			require.Equal(t, []string{"create jobs " + tc.wantCreate, "update cronjobs/status hello"}, f.actions())
			job := f.action(0).(interface{ GetObject() runtime.Object }).GetObject().(*batchv1.Job)
			assert.Equal(t, tc.wantStamp, job.Annotations[batchv1.CronJobScheduledTimestampAnnotation])
		})
	}
}
