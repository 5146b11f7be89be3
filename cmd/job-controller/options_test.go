package main

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/klog/v2"
)

func TestParseOptionsDefaults(t *testing.T) {
	o, err := parseOptions(nil, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, &options{
		workers:   5,
		qps:       20,
		burst:     30,
		managedBy: "kjob.dev/job-controller",
		// The CronJob and TTL controllers are off: the binary is safe
		// beside kube-controller-manager as it is.
		enableCronJob:             false,
		cronJobManagedBy:          "kjob.dev/cronjob-controller",
		manageUnannotatedCronJobs: false,
		cronJobWorkers:            5,
		enableTTLAfterFinished:    false,
		ttlWorkers:                5,
		bindAddress:               ":8080",
		leaderElect:               true,
		leaseName:                 "kjob-job-controller",
		leaseNamespace:            "kjob-system",
		leaseDuration:             15 * time.Second,
		renewDeadline:             10 * time.Second,
		retryPeriod:               2 * time.Second,
	}, o)
}

func TestParseOptionsValues(t *testing.T) {
	o, err := parseOptions([]string{
		"--kubeconfig=testdata/kubeconfig", "--workers=9", "--kube-api-qps=50.5", "--kube-api-burst=100",
		"--managed-by=example.com/jobs", "--manage-builtin-jobs", "--bind-address=127.0.0.1:9090",
		"--leader-elect=false", "--leader-elect-lease-name=x", "--leader-elect-namespace=y",
	}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, "testdata/kubeconfig", o.kubeconfig)
	assert.Equal(t, 9, o.workers)
	assert.Equal(t, 50.5, o.qps)
	assert.Equal(t, 100, o.burst)
	assert.Equal(t, "example.com/jobs", o.managedBy)
	assert.True(t, o.manageBuiltInJobs)
	assert.Equal(t, "127.0.0.1:9090", o.bindAddress)
	assert.False(t, o.leaderElect)
	assert.False(t, o.enableCronJob)
	assert.False(t, o.enableTTLAfterFinished)
}

// TestParseOptionsOptionalControllers: the flags of the CronJob and
// TTL-after-finished controllers, alone and together.
func TestParseOptionsOptionalControllers(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want func(*options)
	}{
		{"cronjob on, annotated only", []string{"--enable-cronjob-controller"},
			func(o *options) { o.enableCronJob = true }},
		{"cronjob on, unannotated too", []string{"--enable-cronjob-controller", "--manage-unannotated-cronjobs"},
			func(o *options) { o.enableCronJob, o.manageUnannotatedCronJobs = true, true }},
		{"cronjob under another name", []string{"--enable-cronjob-controller", "--cronjob-managed-by=example.com/cron", "--cronjob-workers=2"},
			func(o *options) { o.enableCronJob, o.cronJobManagedBy, o.cronJobWorkers = true, "example.com/cron", 2 }},
		{"ttl on", []string{"--enable-ttl-after-finished-controller", "--ttl-after-finished-workers=3"},
			func(o *options) { o.enableTTLAfterFinished, o.ttlWorkers = true, 3 }},
		{"both on", []string{"--enable-cronjob-controller", "--enable-ttl-after-finished-controller"},
			func(o *options) { o.enableCronJob, o.enableTTLAfterFinished = true, true }},
		{"explicitly off", []string{"--enable-cronjob-controller=false", "--enable-ttl-after-finished-controller=false"},
			func(*options) {}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, err := parseOptions(nil, &bytes.Buffer{})
			require.NoError(t, err)
			tc.want(want)
			got, err := parseOptions(tc.args, &bytes.Buffer{})
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

// TestParseOptionsRejects: every bad value is refused with a message that
// names its flag.
func TestParseOptionsRejects(t *testing.T) {
	cases := []struct {
		args []string
		flag string
	}{
		{[]string{"--workers=0"}, "--workers"},
		{[]string{"--kube-api-qps=0"}, "--kube-api-qps"},
		{[]string{"--kube-api-qps=-1"}, "--kube-api-qps"},
		{[]string{"--kube-api-burst=0"}, "--kube-api-burst"},
		{[]string{"--managed-by="}, "--managed-by"},
		{[]string{"--managed-by=job-controller"}, "--managed-by"},
		{[]string{"--managed-by=kubernetes.io/job-controller"}, "--manage-builtin-jobs"},
		{[]string{"--bind-address=8080"}, "--bind-address"},
		{[]string{"--bind-address=:http"}, "--bind-address"},
		{[]string{"--bind-address=:70000"}, "--bind-address"},
		{[]string{"--leader-elect-lease-name=Not_A_Name"}, "--leader-elect-lease-name"},
		{[]string{"--leader-elect-namespace=a.b"}, "--leader-elect-namespace"},
		{[]string{"--leader-elect-retry-period=0s"}, "--leader-elect-retry-period"},
		{[]string{"--leader-elect-lease-duration=10s"}, "--leader-elect-lease-duration"},
		{[]string{"--leader-elect-renew-deadline=2s"}, "--leader-elect-renew-deadline"},
		{[]string{"--cronjob-managed-by="}, "--cronjob-managed-by"},
		{[]string{"--cronjob-managed-by=cron"}, "--cronjob-managed-by"},
		{[]string{"--manage-unannotated-cronjobs"}, "--manage-unannotated-cronjobs"},
		{[]string{"--cronjob-workers=0"}, "--cronjob-workers"},
		{[]string{"--ttl-after-finished-workers=0"}, "--ttl-after-finished-workers"},
		{[]string{"--enable-cronjob-controller=maybe"}, "-enable-cronjob-controller"},
		{[]string{"--workers=many"}, "-workers"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
		{[]string{"stray"}, "stray"},
	}
	for _, tc := range cases {
		t.Run(tc.args[0], func(t *testing.T) {
			_, err := parseOptions(tc.args, &bytes.Buffer{})
			var bad *flagError
			require.True(t, errors.As(err, &bad), "got %v", err)
			assert.Contains(t, err.Error(), tc.flag)
		})
	}
}

func TestLeaderElectionFlagsIgnoredWhenOff(t *testing.T) {
	_, err := parseOptions([]string{"--leader-elect=false", "--leader-elect-namespace=a.b"}, &bytes.Buffer{})
	assert.NoError(t, err)
}

func TestRunMainExitCodes(t *testing.T) {
	var stderr bytes.Buffer
	assert.Equal(t, exitBadFlags, runMain(context.Background(), []string{"--workers=0"}, &stderr, runEnv{}))
	assert.Equal(t, "job-controller: invalid value \"0\" for flag --workers: must be at least 1\n", stderr.String())

	stderr.Reset()
	assert.Equal(t, exitBadFlags, runMain(context.Background(), []string{"--workers=x"}, &stderr, runEnv{}))
	assert.Contains(t, stderr.String(), "invalid value \"x\" for flag -workers")
	assert.Contains(t, stderr.String(), "usage: job-controller", "the flag package shows the usage once")

	stderr.Reset()
	assert.Equal(t, exitOK, runMain(context.Background(), []string{"-h"}, &stderr, runEnv{}))
	assert.Contains(t, stderr.String(), "-managed-by")

	stderr.Reset()
	assert.Equal(t, exitFailed, runMain(context.Background(), []string{"--kubeconfig=/nonexistent/kubeconfig", "--bind-address="}, &stderr, runEnv{}))
}

// TestVerbosityFlag: klog's -v passes through and takes effect.
func TestVerbosityFlag(t *testing.T) {
	t.Cleanup(func() { _, _ = parseOptions([]string{"--v=0"}, &bytes.Buffer{}) })
	_, err := parseOptions([]string{"--v=4"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.True(t, bool(klog.V(4).Enabled()))
	assert.False(t, bool(klog.V(5).Enabled()))
	_, err = parseOptions([]string{"--v=0"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.False(t, bool(klog.V(1).Enabled()))
}
