// Command job-controller runs the kjob Job controller against a real
// cluster.
//
//	job-controller [--kubeconfig FILE] [--managed-by NAME] [flags]
//
// It reconciles the Jobs whose spec.managedBy is --managed-by (and, with
// --manage-builtin-jobs, those of the built-in controller too), takes turns
// with its other replicas through a coordination.k8s.io Lease, and serves
// /metrics, /healthz and /readyz on --bind-address. docs/job-controller.md
// describes every flag.
//
// Exit status: 0 after SIGTERM or SIGINT, once in-flight work is done and
// the Lease is released; 1 when it stops on an error (the API unreachable,
// leadership lost); 2 for bad flags. A second signal exits at once.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"
)

const (
	exitOK       = 0
	exitFailed   = 1
	exitBadFlags = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal the default handling comes back, so a second
	// one ends the process without waiting for the clean shutdown.
	context.AfterFunc(ctx, stop)
	code := runMain(ctx, os.Args[1:], os.Stderr, runEnv{})
	stop()
	klog.Flush()
	os.Exit(code)
}

// runMain parses args, runs the controller until ctx ends, and returns the
// exit status.
func runMain(ctx context.Context, args []string, stderr io.Writer, env runEnv) int {
	o, err := parseOptions(args, stderr)
	var bad *flagError
	switch {
	case errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &bad):
		if !bad.printed {
			fmt.Fprintf(stderr, "job-controller: %v\n", bad)
		}
		return exitBadFlags
	case err != nil:
		fmt.Fprintf(stderr, "job-controller: %v\n", err)
		return exitBadFlags
	}
	logger := klog.Background().WithName("job-controller")
	ctx = klog.NewContext(ctx, logger)
	if err := run(ctx, o, env); err != nil {
		logger.Error(err, "Job controller stopped")
		return exitFailed
	}
	logger.Info("Job controller stopped cleanly")
	return exitOK
}
