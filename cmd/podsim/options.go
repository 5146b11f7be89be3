package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/kjob-dev/kjob/sim"
)

// options are podsim's flags, checked.
type options struct {
	kubeconfig string
	// nodes is the node count; nodeNames, when set, replaces it.
	nodes     int
	nodeNames []string
	runtime   sim.RuntimeName
	seed      uint64
	// startDelay is the time from binding a pod to starting its containers.
	startDelay   time.Duration
	selectedOnly bool
	qps          float64
	burst        int
}

// maxNodes matches what the kubelet engine accepts (one /24 pod range per node).
const maxNodes = 254

// heartbeatInterval is how often each node's Lease is renewed, as often as
// a kubelet does by default.
const heartbeatInterval = 10 * time.Second

// parseFlags parses and checks podsim's command line. -h yields
// flag.ErrHelp after printing the usage to stderr.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("podsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var nodeNames, runtime string
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster; empty means the in-cluster config (podsim running in a pod)")
	fs.IntVar(&o.nodes, "nodes", 3, fmt.Sprintf("number of simulated nodes, named sim-node-1 ... (1 to %d)", maxNodes))
	fs.StringVar(&nodeNames, "node-names", "", "comma-separated names of the simulated nodes, instead of --nodes")
	fs.StringVar(&runtime, "runtime", string(sim.RuntimeScripted), `how pods run: "scripted" (nothing runs; outcomes from sim.kjob.dev/ annotations), `+
		`"exec" (each container's command runs on THIS host as this user) or "auto" (scripted for pods with sim.kjob.dev/ annotations, exec for the rest)`)
	fs.Uint64Var(&o.seed, "seed", 1, "seed for the random outcomes of sim.kjob.dev/failure-probability")
	fs.DurationVar(&o.startDelay, "start-delay", time.Second, "time from binding a pod to starting its containers (0 for none)")
	fs.BoolVar(&o.selectedOnly, "selected-only", false, "bind only pods with a nodeSelector that matches a simulated node (pods already bound to its nodes always run)")
	fs.Float64Var(&o.qps, "kube-api-qps", 50, "queries per second to the apiserver")
	fs.IntVar(&o.burst, "kube-api-burst", 100, "burst of queries to the apiserver")
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	fs.Func("v", "log verbosity (klog -v): 2 shows every pod's phases, 4 every API call's reason", func(s string) error {
		return klogFlags.Set("v", s)
	})
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: podsim [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}

	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q (podsim takes flags only)", fs.Args()))
	}
	if o.kubeconfig != "" {
		if _, err := os.Stat(o.kubeconfig); err != nil {
			errs = append(errs, fmt.Errorf("--kubeconfig: %w", err))
		}
	}
	nodesSet := false
	fs.Visit(func(f *flag.Flag) { nodesSet = nodesSet || f.Name == "nodes" })
	if nodeNames != "" {
		if nodesSet {
			errs = append(errs, errors.New("--nodes and --node-names exclude each other"))
		}
		o.nodeNames = strings.Split(nodeNames, ",")
		if err := sim.ValidateNodeNames(o.nodeNames); err != nil {
			errs = append(errs, fmt.Errorf("--node-names: %w", err))
		}
	} else if o.nodes < 1 || o.nodes > maxNodes {
		errs = append(errs, fmt.Errorf("--nodes %d: want 1 to %d", o.nodes, maxNodes))
	}
	o.runtime = sim.RuntimeName(runtime)
	switch o.runtime {
	case sim.RuntimeScripted, sim.RuntimeExec, sim.RuntimeAuto:
	default:
		errs = append(errs, fmt.Errorf("--runtime %q: want scripted, exec or auto", runtime))
	}
	if o.startDelay < 0 {
		errs = append(errs, fmt.Errorf("--start-delay %v: want 0 or more", o.startDelay))
	}
	if o.qps <= 0 || o.burst < 1 {
		errs = append(errs, fmt.Errorf("--kube-api-qps %v, --kube-api-burst %d: want both above 0", o.qps, o.burst))
	}
	return o, errors.Join(errs...)
}

// kubeletOptions configures the kubelet engine; container output goes to log.
func (o options) kubeletOptions(log io.Writer) sim.KubeletOptions {
	startDelay := o.startDelay
	if startDelay == 0 {
		startDelay = -1 // the engine's "no delay"; its 0 means the default
	}
	return sim.KubeletOptions{
		NodeNames:        o.nodeNames,
		NodeCount:        o.nodes,
		DefaultRuntime:   o.runtime,
		DisableExec:      o.runtime == sim.RuntimeScripted,
		SelectedPodsOnly: o.selectedOnly,
		Log:              log,
		Seed:             o.seed,
		StartDelay:       startDelay,
	}
}
