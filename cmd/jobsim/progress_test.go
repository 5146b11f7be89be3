package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestProgressColumns: once a stamp is longer than the column's 9
// characters (`[+1m16.5s]`), the column widens, so that the lines after it
// keep their Job names in one column instead of jogging by a character.
func TestProgressColumns(t *testing.T) {
	ctx := context.Background()
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "long", Namespace: metav1.NamespaceDefault}}
	client := fake.NewClientset(job)
	var out bytes.Buffer
	p := newProgressPrinter(&out, simStart)
	p.created(job)
	for i, at := range []time.Duration{time.Second, 76*time.Second + 500*time.Millisecond, 77 * time.Second, 2 * time.Minute} {
		job.Status.Active = int32(i + 1)
		_, err := client.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{})
		require.NoError(t, err)
		p.step(ctx, client, simStart.Add(at))
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 5, out.String())
	assert.Equal(t, "[+0s]     job/long created", lines[0], "short stamps keep the 9-character column")
	assert.True(t, strings.HasPrefix(lines[1], "[+1s]     job/long  Running"), lines[1])
	assert.True(t, strings.HasPrefix(lines[2], "[+1m16.5s] job/long  Running"), lines[2])
	for _, l := range lines[3:] {
		assert.Equal(t, strings.Index(lines[2], "job/"), strings.Index(l, "job/"), "aligned with the longest stamp: %q", l)
	}
	assert.True(t, strings.HasPrefix(lines[4], "[+2m0s]    job/long  Running"), lines[4])
}
