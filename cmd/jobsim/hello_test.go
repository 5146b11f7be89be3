package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestHelloJobNeverRunsMoreThanFour plays the tutorial's manifest and looks
// at the pods after every step of the run: parallelism 4 means at most four
// pods are ever running (or waiting to run) at once, and the Job still
// reaches 16 completions with exactly 16 pods.
func TestHelloJobNeverRunsMoreThanFour(t *testing.T) {
	s := newScenario(t)
	manifests, err := readManifests([]string{testdata("hello-job.yaml")})
	require.NoError(t, err)
	require.Len(t, manifests, 1)
	job := manifests[0].obj.(*batchv1.Job)
	job.Namespace = metav1.NamespaceDefault

	most := 0
	checkInvariants := s.runner.OnStep
	s.runner.OnStep = func() {
		checkInvariants()
		pods, err := s.sim.client.CoreV1().Pods(metav1.NamespaceAll).List(s.ctx, metav1.ListOptions{})
		require.NoError(t, err)
		unfinished := 0
		for i := range pods.Items {
			if !isTerminalPod(&pods.Items[i]) {
				unfinished++
			}
		}
		most = max(most, unfinished)
	}
	job = s.create(job)
	job = s.finished(job.Name, time.Hour)

	assert.Equal(t, 4, most, "parallelism 4: four pods at a time, never more")
	assert.True(t, hasTrue(job, batchv1.JobComplete), "%v", conditions(job))
	assert.Equal(t, int32(16), job.Status.Succeeded)
	assert.Equal(t, 16, s.created(job))
	assert.Equal(t, 16, s.podsInPhase(job, v1.PodSucceeded))
}
