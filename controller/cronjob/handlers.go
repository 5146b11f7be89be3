package cronjob

import (
	"context"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// Event handlers (step 0 of the diagram) run on the informers' goroutines.
// They only decide which CronJob key to enqueue, and when; all the work
// happens in sync, one key at a time.

func (c *Controller) registerHandlers(ctx context.Context, cronJobs, jobs cache.SharedIndexInformer) error {
	logger := klog.FromContext(ctx)
	if _, err := cronJobs.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.onCronJobAdd(obj) },
		UpdateFunc: func(old, cur interface{}) { c.onCronJobUpdate(logger, old, cur) },
		DeleteFunc: func(obj interface{}) { c.onCronJobDelete(obj) },
	}); err != nil {
		return err
	}
	_, err := jobs.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.onJobAdd(obj) },
		UpdateFunc: func(old, cur interface{}) { c.onJobUpdate(old, cur) },
		DeleteFunc: func(obj interface{}) { c.onJobDelete(obj) },
	})
	return err
}

func keyOf(obj metav1.Object) string { return obj.GetNamespace() + "/" + obj.GetName() }

func (c *Controller) onCronJobAdd(obj interface{}) {
	if cj, ok := obj.(*batchv1.CronJob); ok && c.manages(cj) {
		c.queue.Add(keyOf(cj))
	}
}

// onCronJobUpdate: a new schedule or zone moves the CronJob's timer to its
// new next start time; any other change (status included) is looked at
// now. The queue keeps the earlier of two timers, so a timer armed for the
// old schedule may still fire; that sync finds nothing due and re-arms.
func (c *Controller) onCronJobUpdate(logger klog.Logger, oldObj, curObj interface{}) {
	old, okOld := oldObj.(*batchv1.CronJob)
	cur, okCur := curObj.(*batchv1.CronJob)
	if !okOld || !okCur || (!c.manages(old) && !c.manages(cur)) {
		return
	}
	if old.Spec.Schedule == cur.Spec.Schedule && ptr.Equal(old.Spec.TimeZone, cur.Spec.TimeZone) {
		c.queue.Add(keyOf(cur))
		return
	}
	if _, err := loadTimeZone(cur); err != nil {
		c.queue.Add(keyOf(cur)) // the sync reports UnknownTimeZone
		return
	}
	sched, err := parseSchedule(cur, c.location)
	if err != nil {
		logger.V(2).Info("New schedule does not parse", "cronjob", klog.KObj(cur), "schedule", cur.Spec.Schedule, "err", err)
		c.recorder.Eventf(cur, corev1.EventTypeWarning, ReasonUnParseableCronJobSchedule, "unparseable schedule for cronjob: %s", cur.Spec.Schedule)
		return
	}
	if d, ok := untilNextSlot(cur, sched, c.clock.Now()); ok {
		c.queue.AddAfter(keyOf(cur), d)
		return
	}
	c.queue.Add(keyOf(cur)) // no next start time: the sync reports InvalidSchedule
}

func (c *Controller) onCronJobDelete(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if cj, ok := obj.(*batchv1.CronJob); ok {
		c.queue.Add(keyOf(cj)) // the sync finds it gone and stops
	}
}

// cronJobOf returns the cached CronJob that controls job, if this
// controller manages it. The UID check matters: a CronJob re-created under
// the same name is another CronJob.
func (c *Controller) cronJobOf(job *batchv1.Job) *batchv1.CronJob {
	return c.cronJobFor(job.Namespace, metav1.GetControllerOf(job))
}

func (c *Controller) cronJobFor(namespace string, ref *metav1.OwnerReference) *batchv1.CronJob {
	if ref == nil || ref.Kind != cronJobKind.Kind || ref.APIVersion != cronJobKind.GroupVersion().String() {
		return nil
	}
	cj, err := c.cronJobLister.CronJobs(namespace).Get(ref.Name)
	if err != nil || cj.UID != ref.UID || !c.manages(cj) {
		return nil
	}
	return cj
}

// A Job event wakes the CronJob that controls it: a finished Job frees a
// Forbid CronJob (which may then start a skipped run late) and counts
// toward the history.
func (c *Controller) onJobAdd(obj interface{}) {
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	if cj := c.cronJobOf(job); cj != nil {
		c.queue.Add(keyOf(cj))
	}
}

func (c *Controller) onJobUpdate(oldObj, curObj interface{}) {
	old, okOld := oldObj.(*batchv1.Job)
	cur, okCur := curObj.(*batchv1.Job)
	if !okOld || !okCur || old.ResourceVersion == cur.ResourceVersion {
		return // a resync replays the cache: nothing changed
	}
	oldRef, curRef := metav1.GetControllerOf(old), metav1.GetControllerOf(cur)
	if oldRef != nil && (curRef == nil || oldRef.UID != curRef.UID) {
		// Released or re-owned: the previous owner must look again.
		if cj := c.cronJobFor(old.Namespace, oldRef); cj != nil {
			c.queue.Add(keyOf(cj))
		}
	}
	if cj := c.cronJobFor(cur.Namespace, curRef); cj != nil {
		c.queue.Add(keyOf(cj))
	}
}

func (c *Controller) onJobDelete(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if job, ok := obj.(*batchv1.Job); ok {
		c.deleted.Delete(job.UID) // the cache has caught up
		if cj := c.cronJobOf(job); cj != nil {
			c.queue.Add(keyOf(cj))
		}
	}
}
