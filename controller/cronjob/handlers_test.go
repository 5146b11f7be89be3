package cronjob

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

func TestCronJobHandlers(t *testing.T) {
	other := func(cj *batchv1.CronJob) {
		cj.Annotations = map[string]string{ManagedByAnnotation: "example.com/other"}
	}
	schedule := func(s string) func(*batchv1.CronJob) { return func(cj *batchv1.CronJob) { cj.Spec.Schedule = s } }
	zone := func(z string) func(*batchv1.CronJob) {
		return func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To(z) }
	}
	cases := []struct {
		name       string
		event      func(c *Controller)
		want       []string
		wantEvents []string
	}{
		{name: "add", event: func(c *Controller) { c.onCronJobAdd(cronJob()) }, want: []string{"default/hello now"}},
		{name: "add of another controller's CronJob", event: func(c *Controller) { c.onCronJobAdd(cronJob(other)) }},
		{
			name:  "status update: look now",
			event: func(c *Controller) { c.onCronJobUpdate(klog.Background(), cronJob(), cronJob(lastScheduled(slot5))) },
			want:  []string{"default/hello now"},
		},
		{
			name: "new schedule: the timer moves to its next start time",
			event: func(c *Controller) {
				c.onCronJobUpdate(klog.Background(), cronJob(), cronJob(schedule("*/10 * * * *")))
			},
			want: []string{"default/hello after 8m0.1s"},
		},
		{
			name: "new timeZone: the timer moves too",
			event: func(c *Controller) {
				c.onCronJobUpdate(klog.Background(), cronJob(schedule("0 0 * * *")), cronJob(schedule("0 0 * * *"), zone("Asia/Tokyo")))
			},
			want: []string{"default/hello after 14h58m0.1s"},
		},
		{
			name:       "new schedule that does not parse: a warning, nothing queued",
			event:      func(c *Controller) { c.onCronJobUpdate(klog.Background(), cronJob(), cronJob(schedule("every hour"))) },
			wantEvents: []string{"Warning UnParseableCronJobSchedule unparseable schedule for cronjob: every hour"},
		},
		{
			name:  "new schedule that never comes: the sync will say so",
			event: func(c *Controller) { c.onCronJobUpdate(klog.Background(), cronJob(), cronJob(schedule("0 0 30 2 *"))) },
			want:  []string{"default/hello now"},
		},
		{
			name:  "unknown new timeZone: the sync will say so",
			event: func(c *Controller) { c.onCronJobUpdate(klog.Background(), cronJob(), cronJob(zone("Mars/Olympus"))) },
			want:  []string{"default/hello now"},
		},
		{
			name:  "handed to another controller: a last look (which skips it)",
			event: func(c *Controller) { c.onCronJobUpdate(klog.Background(), cronJob(), cronJob(other)) },
			want:  []string{"default/hello now"},
		},
		{
			name: "another controller's CronJob changes: nothing",
			event: func(c *Controller) {
				c.onCronJobUpdate(klog.Background(), cronJob(other), cronJob(other, lastScheduled(slot5)))
			},
		},
		{name: "delete", event: func(c *Controller) { c.onCronJobDelete(cronJob()) }, want: []string{"default/hello now"}},
		{
			name: "delete seen as a tombstone",
			event: func(c *Controller) {
				c.onCronJobDelete(cache.DeletedFinalStateUnknown{Key: "default/hello", Obj: cronJob()})
			},
			want: []string{"default/hello now"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, at(2*time.Minute))
			tc.event(f.ctrl)
			assert.Equal(t, tc.want, f.queue.take())
			assertEvents(t, tc.wantEvents, f.events())
		})
	}
}

func TestJobHandlers(t *testing.T) {
	cj := cronJob()
	job := child(cj, slot5, running)
	withRV := func(j *batchv1.Job, rv string) *batchv1.Job { j = j.DeepCopy(); j.ResourceVersion = rv; return j }
	orphan := withRV(job, "6")
	orphan.OwnerReferences = nil
	ofOldCronJob := job.DeepCopy()
	ofOldCronJob.OwnerReferences[0].UID = "previous-cronjob-with-this-name"
	ofOtherKind := job.DeepCopy()
	ofOtherKind.OwnerReferences[0].Kind = "Workflow"
	ofOtherKind.OwnerReferences[0].APIVersion = "example.com/v1"
	deleting := job.DeepCopy()
	deleting.DeletionTimestamp = ptr.To(metav1.NewTime(created))

	cases := []struct {
		name     string
		cronJobs []*batchv1.CronJob
		event    func(c *Controller)
		want     []string
	}{
		{name: "a new Job wakes its CronJob", event: func(c *Controller) { c.onJobAdd(job) }, want: []string{"default/hello now"}},
		{name: "a new Job already being deleted too", event: func(c *Controller) { c.onJobAdd(deleting) }, want: []string{"default/hello now"}},
		{name: "a Job without a controller wakes nobody", event: func(c *Controller) { c.onJobAdd(orphan) }},
		{name: "a Job of an earlier CronJob with the same name", event: func(c *Controller) { c.onJobAdd(ofOldCronJob) }},
		{name: "a Job controlled by another kind", event: func(c *Controller) { c.onJobAdd(ofOtherKind) }},
		{
			name:     "a Job of another controller's CronJob",
			cronJobs: []*batchv1.CronJob{cronJob(func(cj *batchv1.CronJob) { cj.Annotations = map[string]string{ManagedByAnnotation: "x"} })},
			event:    func(c *Controller) { c.onJobAdd(job) },
		},
		{name: "a Job update (it finished, say)", event: func(c *Controller) { c.onJobUpdate(job, withRV(job, "6")) }, want: []string{"default/hello now"}},
		{name: "a resync (same resourceVersion) changes nothing", event: func(c *Controller) { c.onJobUpdate(job, job) }},
		{name: "a released Job wakes its former CronJob", event: func(c *Controller) { c.onJobUpdate(job, orphan) }, want: []string{"default/hello now"}},
		{name: "a deleted Job", event: func(c *Controller) { c.onJobDelete(job) }, want: []string{"default/hello now"}},
		{
			name: "the deletion of a Job this controller deleted: it is forgotten",
			event: func(c *Controller) {
				c.deleted.Store(job.UID, struct{}{})
				c.onJobDelete(job)
				if c.deletedByUs(job.UID) {
					panic("still remembered")
				}
			},
			want: []string{"default/hello now"},
		},
		{
			name:  "a deleted Job seen as a tombstone",
			event: func(c *Controller) { c.onJobDelete(cache.DeletedFinalStateUnknown{Key: "default/x", Obj: job}) },
			want:  []string{"default/hello now"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cronJobs := tc.cronJobs
			if cronJobs == nil {
				cronJobs = []*batchv1.CronJob{cj}
			}
			f := newFixture(t, at(2*time.Minute))
			for _, c := range cronJobs {
				assert.NoError(t, f.cronJobs.Add(c))
			}
			tc.event(f.ctrl)
			assert.Equal(t, tc.want, f.queue.take())
		})
	}
}

func TestManagedBy(t *testing.T) {
	annotated := func(v string) *batchv1.CronJob {
		return cronJob(func(cj *batchv1.CronJob) { cj.Annotations = map[string]string{ManagedByAnnotation: v} })
	}
	ours, err := ManagedByPredicate("kjob.dev/cronjob-controller", false)
	assert.NoError(t, err)
	oursAndUnannotated, err := ManagedByPredicate("kjob.dev/cronjob-controller", true)
	assert.NoError(t, err)
	_, err = ManagedByPredicate("", true)
	assert.Error(t, err, "a controller needs a name")

	cases := []struct {
		name                            string
		cj                              *batchv1.CronJob
		def, named, namedAndUnannotated bool
	}{
		{name: "no annotation", cj: cronJob(), def: true, named: false, namedAndUnannotated: true},
		{name: "names us", cj: annotated("kjob.dev/cronjob-controller"), def: false, named: true, namedAndUnannotated: true},
		{name: "names another", cj: annotated("example.com/other"), def: false, named: false, namedAndUnannotated: false},
		{name: "empty value names nobody", cj: annotated(""), def: false, named: false, namedAndUnannotated: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.def, ManagesUnannotated(tc.cj), "default")
			assert.Equal(t, tc.named, ours(tc.cj), "named")
			assert.Equal(t, tc.namedAndUnannotated, oursAndUnannotated(tc.cj), "named, and unannotated too")
		})
	}
}
