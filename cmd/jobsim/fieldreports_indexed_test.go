package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/controller"
)

func withIndexed() jobOption {
	return func(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion) }
}

// podOfIndex returns the Job's oldest pod of completion index ix.
func (s *scenario) podOfIndex(job *batchv1.Job, ix int) v1.Pod {
	s.t.Helper()
	for _, p := range s.pods(job) {
		if p.Annotations[batchv1.JobCompletionIndexAnnotation] == fmt.Sprint(ix) {
			return p
		}
	}
	s.t.Fatalf("job/%s has no pod of index %d", job.Name, ix)
	return v1.Pod{}
}

// duplicate creates a second pod for the index of pod, as a controller
// acting on a stale cache would: same owner, labels, annotations,
// finalizer and spec, not yet bound to a node.
func (s *scenario) duplicate(pod v1.Pod, name string) {
	s.t.Helper()
	dup := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: pod.Namespace, Labels: pod.Labels,
			Annotations: pod.Annotations, Finalizers: pod.Finalizers, OwnerReferences: pod.OwnerReferences},
		Spec: *pod.Spec.DeepCopy(),
	}
	dup.Spec.NodeName = ""
	_, err := s.sim.client.CoreV1().Pods(pod.Namespace).Create(s.ctx, dup, metav1.CreateOptions{})
	require.NoError(s.t, err)
}

// TestF12IndexedDuplicates: an Indexed Job counts succeeded indexes, not
// succeeded pods. Index 1 gets a second pod the controller only learns of
// once it has succeeded too: that is still one completion, and index 2
// still runs. Later a second pod of index 2 runs beside the first: the
// controller deletes it at once, and it is not counted as failed.
func TestF12IndexedDuplicates(t *testing.T) {
	s := newScenario(t)
	job := s.create(newJob("f12", withIndexed(), withCompletions(3), withParallelism(2),
		withScript("duration", "5s", "duration-index-2", "60s")))
	s.runUntil("pods of indexes 0 and 1", time.Minute, func() bool { return len(s.pods(job)) == 2 })

	// The duplicate of index 1 reaches the controller's cache 30 s late,
	// with every later event of it queued behind.
	s.lag.Delay(func(typ watch.EventType, p *v1.Pod) bool { return typ == watch.Added && p.Name == "f12-1-dup" }, 30*time.Second)
	s.duplicate(s.podOfIndex(job, 1), "f12-1-dup")
	s.runUntil("both pods of index 1 succeeded", time.Minute, func() bool {
		dup := s.pod("f12-1-dup")
		return dup != nil && dup.Status.Phase == v1.PodSucceeded && s.podOfIndex(job, 1).Status.Phase == v1.PodSucceeded
	})
	s.runTo(40 * time.Second) // the controller has seen the duplicate's success
	got := s.job(job.Name)
	assert.Equal(t, "0,1", got.Status.CompletedIndexes)
	assert.Equal(t, int32(2), got.Status.Succeeded, "two successes of index 1 are one completion")
	assert.Equal(t, int32(1), got.Status.Active, "index 2 runs")
	assert.False(t, hasTrue(got, batchv1.JobComplete))
	assert.NotContains(t, s.pod("f12-1-dup").Finalizers, controller.JobTrackingFinalizer, "the duplicate was accounted for")

	s.duplicate(s.podOfIndex(job, 2), "f12-2-dup")
	s.runTo(45 * time.Second)
	assert.Nil(t, s.pod("f12-2-dup"), "the second active pod of index 2 was deleted")
	assert.Equal(t, v1.PodRunning, s.podOfIndex(job, 2).Status.Phase, "the pod that got further stays")

	job = s.finished(job.Name, time.Hour)
	assert.Equal(t, completedByCompletions, conditions(job))
	assert.Equal(t, "0-2", job.Status.CompletedIndexes)
	assert.Equal(t, counts{Succeeded: 3}, countsOf(job), "the deleted duplicate is not a failure")
	assert.Equal(t, 3, s.created(job), "the controller made one pod per index")
	for _, p := range s.pods(job) {
		ix := p.Annotations[batchv1.JobCompletionIndexAnnotation]
		assert.Equal(t, ix, p.Labels[batchv1.JobCompletionIndexAnnotation], p.Name)
		assert.Equal(t, "f12-"+ix, p.Spec.Hostname, p.Name)
		assert.Equal(t, controller.CompletionIndexEnvName, p.Spec.Containers[0].Env[0].Name, p.Name)
	}
}

// TestElasticIndexedJob scales completions and parallelism together while
// the Job runs: up adds indexes; down deletes the pods of the indexes it
// drops, uncounted, and drops their completions, so succeeded goes down
// (upstream integration TestElasticIndexedJob).
func TestElasticIndexedJob(t *testing.T) {
	s := newScenario(t)
	job := s.create(newJob("elastic", withIndexed(), withCompletions(4), withParallelism(2),
		withScript("duration", "20s")))
	s.runTo(25 * time.Second)
	assert.Equal(t, "0,1", s.job(job.Name).Status.CompletedIndexes, "indexes 0 and 1 ran first, two at a time")

	jobs := s.sim.client.BatchV1().Jobs(metav1.NamespaceDefault)
	refused := s.job(job.Name)
	refused.Spec.Completions = ptr.To[int32](6)
	_, err := jobs.Update(context.Background(), refused, metav1.UpdateOptions{})
	require.True(t, apierrors.IsInvalid(err), "completions may change only together with parallelism: %v", err)
	require.ErrorContains(t, err, "spec.completions")

	s.update(job.Name, func(j *batchv1.Job) { j.Spec.Completions, j.Spec.Parallelism = ptr.To[int32](6), ptr.To[int32](6) })
	s.runTo(30 * time.Second)
	assert.Equal(t, int32(4), s.job(job.Name).Status.Active, "indexes 2-5 run")

	s.update(job.Name, func(j *batchv1.Job) { j.Spec.Completions, j.Spec.Parallelism = ptr.To[int32](1), ptr.To[int32](1) })
	job = s.finished(job.Name, time.Minute)
	assert.Equal(t, completedByCompletions, conditions(job))
	assert.Equal(t, "0", job.Status.CompletedIndexes, "index 1 fell out of range")
	assert.Equal(t, counts{Succeeded: 1}, countsOf(job), "the pods of dropped indexes are not failures")
	assert.Len(t, s.events(job.UID, controller.EventSuccessfulDelete), 4)
}
