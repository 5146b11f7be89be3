package controller

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"
)

// blockingPodControl holds every CreatePod until release is closed.
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

// TestRunWaitsForWorkers: a restart starts a second controller as soon as
// the first one's Run returns, so Run must not return while a worker is
// still in the middle of a sync that writes to the API.
func TestRunWaitsForWorkers(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	job := newJob(1, ptr.To[int32](1), 6)
	client := fake.NewClientset(job)
	recorder := record.NewFakeRecorder(100)
	pc := &blockingPodControl{
		PodControl: RealPodControl{Client: client, Recorder: recorder},
		entered:    make(chan struct{}, 1),
		release:    make(chan struct{}),
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	ctrl, err := New(ctx, Config{
		Client:      client,
		JobInformer: factory.Batch().V1().Jobs(),
		PodInformer: factory.Core().V1().Pods(),
		Recorder:    recorder,
		PodControl:  pc,
	})
	require.NoError(t, err)
	factory.Start(ctx.Done())
	defer factory.Shutdown()

	done := make(chan struct{})
	go func() {
		ctrl.Run(ctx, 1)
		close(done)
	}()
	select {
	case <-pc.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the Job was never synced")
	}
	cancel()
	// Only a premature return can end this wait early, so it cannot make
	// the test fail on a slow machine.
	select {
	case <-done:
		t.Fatal("Run returned while a sync was still creating a pod")
	case <-time.After(100 * time.Millisecond):
	}
	close(pc.release)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its last sync ended")
	}
}
