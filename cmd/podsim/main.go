// Command podsim is a simulated kubelet for a real apiserver. It registers
// fake Ready Nodes, binds pending pods to them (it is its own scheduler)
// and moves each pod through Pending, Running and Succeeded or Failed with
// the container statuses, conditions, restart counts and finish times a
// kubelet reports. It is the kubelet engine of package sim, the same one
// jobsim runs in memory.
//
//	podsim [--kubeconfig FILE] [--nodes N | --node-names a,b] [--runtime scripted|exec|auto] ...
//
// By default pods run on the scripted runtime: nothing executes, outcomes
// come from sim.kjob.dev/ annotations. --runtime=exec (or auto) runs each
// container's command line as a process on this host, with the host's
// binaries and as the user running podsim; only use it on a cluster whose
// pods you trust. Container output goes to stdout, each line prefixed with
// the pod name; podsim's own log goes to stderr.
//
// SIGINT or SIGTERM stops it cleanly: running processes are killed and
// reaped, and it exits 0. A second signal ends it at once.
//
// Exit status: 0 after a clean shutdown, 1 when it could not run, 2 for bad
// flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

const (
	exitOK       = 0
	exitFailed   = 1
	exitBadFlags = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// Once the first signal has ended ctx, a second one ends the process
	// at once.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	klog.Flush()
	os.Exit(code)
}

// run is podsim without the process around it: it parses args, serves until
// ctx ends and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		// One line per problem, each naming its flag.
		fmt.Fprintf(stderr, "podsim: %s\n", strings.ReplaceAll(err.Error(), "\n", "\npodsim: "))
		return exitBadFlags
	}
	cfg, err := restConfig(o)
	if err != nil {
		fmt.Fprintf(stderr, "podsim: %v\n", err)
		return exitFailed
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "podsim: %v\n", err)
		return exitFailed
	}
	ctx = klog.NewContext(ctx, klog.Background().WithName("podsim"))
	if err := serve(ctx, client, o, stdout); err != nil {
		fmt.Fprintf(stderr, "podsim: %v\n", err)
		return exitFailed
	}
	return exitOK
}
