package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kjob-dev/kjob/sim"
)

func TestParseFlags(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, nil, 0o600))
	defaults := options{nodes: 3, runtime: sim.RuntimeScripted, seed: 1, startDelay: time.Second, qps: 50, burst: 100}
	with := func(change func(*options)) options {
		o := defaults
		change(&o)
		return o
	}
	cases := []struct {
		name    string
		args    []string
		want    options
		wantErr []string
	}{
		{name: "defaults", want: defaults},
		{name: "kubeconfig", args: []string{"--kubeconfig", kubeconfig}, want: with(func(o *options) { o.kubeconfig = kubeconfig })},
		{name: "node count", args: []string{"--nodes=5"}, want: with(func(o *options) { o.nodes = 5 })},
		{name: "node names", args: []string{"--node-names=a,b"}, want: with(func(o *options) { o.nodeNames = []string{"a", "b"} })},
		{name: "exec runtime", args: []string{"--runtime=exec"}, want: with(func(o *options) { o.runtime = sim.RuntimeExec })},
		{name: "auto runtime", args: []string{"--runtime=auto"}, want: with(func(o *options) { o.runtime = sim.RuntimeAuto })},
		{name: "seed and start delay", args: []string{"--seed=7", "--start-delay=250ms"},
			want: with(func(o *options) { o.seed, o.startDelay = 7, 250*time.Millisecond })},
		{name: "no start delay", args: []string{"--start-delay=0"}, want: with(func(o *options) { o.startDelay = 0 })},
		{name: "selected only", args: []string{"--selected-only"}, want: with(func(o *options) { o.selectedOnly = true })},
		{name: "client limits", args: []string{"--kube-api-qps=5", "--kube-api-burst=10"}, want: with(func(o *options) { o.qps, o.burst = 5, 10 })},
		{name: "verbosity", args: []string{"-v=2"}, want: defaults},

		{name: "unknown flag", args: []string{"--node=3"}, wantErr: []string{"flag provided but not defined: -node"}},
		{name: "not a number", args: []string{"--nodes=three"}, wantErr: []string{`invalid value "three" for flag -nodes`}},
		{name: "bad verbosity", args: []string{"-v=loud"}, wantErr: []string{`invalid value "loud" for flag -v`}},
		{name: "arguments", args: []string{"job.yaml"}, wantErr: []string{`unexpected arguments ["job.yaml"]`}},
		{name: "missing kubeconfig", args: []string{"--kubeconfig=" + kubeconfig + ".missing"}, wantErr: []string{"--kubeconfig: stat", "no such file"}},
		{name: "no nodes", args: []string{"--nodes=0"}, wantErr: []string{"--nodes 0: want 1 to 254"}},
		{name: "too many nodes", args: []string{"--nodes=255"}, wantErr: []string{"--nodes 255: want 1 to 254"}},
		{name: "count and names", args: []string{"--nodes=2", "--node-names=a"}, wantErr: []string{"--nodes and --node-names exclude each other"}},
		{name: "bad node name", args: []string{"--node-names=Node_1"}, wantErr: []string{`--node-names: "Node_1": a lowercase RFC 1123 subdomain`}},
		{name: "empty node name", args: []string{"--node-names=a,,b"}, wantErr: []string{`--node-names: "": a lowercase RFC 1123 subdomain`}},
		{name: "repeated node name", args: []string{"--node-names=a,a"}, wantErr: []string{`"a" appears twice`}},
		{name: "unknown runtime", args: []string{"--runtime=docker"}, wantErr: []string{`--runtime "docker": want scripted, exec or auto`}},
		{name: "negative start delay", args: []string{"--start-delay=-1s"}, wantErr: []string{"--start-delay -1s: want 0 or more"}},
		{name: "no queries", args: []string{"--kube-api-qps=0"}, wantErr: []string{"want both above 0"}},
		{name: "every problem at once", args: []string{"--nodes=0", "--runtime=x", "extra"},
			wantErr: []string{"unexpected arguments", "--nodes 0", `--runtime "x"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			got, err := parseFlags(tc.args, &stderr)
			if len(tc.wantErr) == 0 {
				require.NoError(t, err)
				assert.Equal(t, tc.want, got)
				require.NoError(t, got.kubeletOptions(nil).Validate(), "checked flags make valid kubelet options")
				return
			}
			require.Error(t, err)
			for _, want := range tc.wantErr {
				assert.Contains(t, err.Error()+stderr.String(), want)
			}
		})
	}
}

func TestKubeletOptions(t *testing.T) {
	scripted := options{nodes: 2, runtime: sim.RuntimeScripted, startDelay: 0}.kubeletOptions(nil)
	assert.True(t, scripted.DisableExec, "exec is opt-in")
	assert.Negative(t, scripted.StartDelay, "0 on the command line means no delay")
	assert.Equal(t, 2, scripted.NodeCount)

	exec := options{nodeNames: []string{"a"}, runtime: sim.RuntimeAuto, startDelay: time.Second, selectedOnly: true}.kubeletOptions(nil)
	assert.False(t, exec.DisableExec)
	assert.Equal(t, time.Second, exec.StartDelay)
	assert.Equal(t, []string{"a"}, exec.NodeNames)
	assert.True(t, exec.SelectedPodsOnly)
}

func TestRunExitCodes(t *testing.T) {
	cases := []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantStderr string
	}{
		{name: "help", args: []string{"-h"}, wantCode: exitOK, wantStderr: "usage: podsim [flags]"},
		{name: "bad flag", args: []string{"--runtime=docker"}, wantCode: exitBadFlags, wantStderr: `podsim: --runtime "docker"`},
		{name: "no cluster", env: map[string]string{"KUBERNETES_SERVICE_HOST": "", "KUBERNETES_SERVICE_PORT": ""},
			wantCode: exitFailed, wantStderr: "podsim: no --kubeconfig given and not running in a cluster"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			assert.Equal(t, tc.wantCode, code, stderr.String())
			assert.Contains(t, stderr.String(), tc.wantStderr)
			assert.Empty(t, stdout.String(), "stdout is for container output only")
		})
	}
	_, err := parseFlags([]string{"-help"}, &bytes.Buffer{})
	assert.ErrorIs(t, err, flag.ErrHelp)
}
