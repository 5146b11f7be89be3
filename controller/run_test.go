package controller

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// blockingPodControl holds every pod creation until released.
type blockingPodControl struct {
	PodControl
	entered chan struct{}
	release chan struct{}
}

func (b *blockingPodControl) CreatePod(ctx context.Context, job *batchv1.Job, pod *v1.Pod) error {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
	return b.PodControl.CreatePod(ctx, job, pod)
}

// TestRunWaitsForSyncsInProgress: Run returns only after the sync under way
// when ctx ended has finished, so a lease can be released right after.
func TestRunWaitsForSyncsInProgress(t *testing.T) {
	job := newJob(1, ptr.To[int32](1), 6)
	block := &blockingPodControl{entered: make(chan struct{}, 1), release: make(chan struct{})}
	f := newFixtureWith(t, func(c *Config) {
		block.PodControl = RealPodControl{Client: c.Client, Recorder: c.Recorder}
		c.PodControl = block
	}, job)

	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	returned := make(chan struct{})
	go func() {
		f.ctrl.Run(ctx, 2)
		close(returned)
	}()
	f.ctrl.queue.Add("ns/job")
	select {
	case <-block.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the sync never created a pod")
	}
	cancel()
	select {
	case <-returned:
		t.Fatal("Run returned while a sync was still writing")
	case <-time.After(50 * time.Millisecond):
	}
	close(block.release)
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the last sync finished")
	}
	assert.Equal(t, 1, f.counts().creations, "the sync in progress completed its write")
}
