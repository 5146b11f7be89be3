// Command jobsim runs Jobs on an in-memory cluster: the project's Job
// controller, a simulated kubelet and a virtual clock, all in one process.
//
//	jobsim [flags] FILE...
//
// It applies the objects in FILE..., runs until every Job has finished (or
// the simulated --timeout passes), shows progress as it goes, and ends with
// tables shaped like `kubectl get jobs -o wide` and `kubectl get pods -o wide`.
//
// With --for DURATION it runs exactly that span of virtual time instead, as
// CronJobs need (they never finish): `jobsim --for 24h testdata/cronjob.yaml`
// prints each Job as its CronJob creates it and ends with `kubectl get
// cronjobs -o wide` as well.
//
// Exit status: 0 when every Job completed (with --for: when the span ran),
// 1 when any failed or the timeout was reached, 2 for bad input.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/kjob-dev/kjob/sim"
	"github.com/kjob-dev/kjob/workqueue"
)

const (
	exitCompleted = 0
	exitFailed    = 1
	exitBadInput  = 2
)

type options struct {
	output  string
	timeout time.Duration
	runtime string
	seed    uint64
	quiet   bool
	workers int
	queue   string
	nodes   int
	maxPods int
	// forSpan, when set, runs exactly this much virtual time (cronjob.go).
	forSpan time.Duration
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("jobsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.output, "o", "", `output format: "" (tables) or "json" (the final Jobs and Pods as a v1 List)`)
	fs.DurationVar(&o.timeout, "timeout", 24*time.Hour, "give up after this much simulated time")
	fs.StringVar(&o.runtime, "runtime", "auto", `how pods run: "exec" (the container's command on this host's /bin/sh), "scripted" (outcomes from sim.kjob.dev/ annotations) or "auto" (scripted when the pod has such annotations)`)
	fs.Uint64Var(&o.seed, "seed", 1, "seed for random outcomes (sim.kjob.dev/failure-probability) and generated names")
	fs.BoolVar(&o.quiet, "q", false, "no progress lines, only the final output")
	fs.IntVar(&o.workers, "workers", 5, "Job controller workers")
	fs.StringVar(&o.queue, "queue", "kjob", `workqueue implementation: "kjob" (the project's) or "client-go"`)
	fs.IntVar(&o.nodes, "nodes", 3, "simulated nodes")
	fs.IntVar(&o.maxPods, "max-pods", defaultMaxPods, "stop the run with an error once this many pods have been created (0: no limit)")
	fs.DurationVar(&o.forSpan, "for", 0, "simulate exactly this much time (needed for CronJobs, which never finish); exit status 0 when the span ran")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: jobsim [flags] FILE...")
		fs.PrintDefaults()
	}
	verbosity, verbositySet := 0, false
	fs.Func("v", "log verbosity of the controller and kubelet (klog -v); without it only errors are logged", func(s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fmt.Errorf("want a number from 0 up")
		}
		verbosity, verbositySet = n, true
		return nil
	})
	files, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitCompleted
		}
		return exitBadInput
	}
	if err := o.validate(); err != nil {
		// One line per problem, each naming its flag.
		fmt.Fprintf(stderr, "jobsim: %s\n", strings.ReplaceAll(err.Error(), "\n", "\njobsim: "))
		return exitBadInput
	}

	manifests, err := readManifests(files)
	if err != nil {
		fmt.Fprintf(stderr, "jobsim: %v\n", err)
		return exitBadInput
	}
	if o.forSpan <= 0 {
		if err := needsFor(manifests); err != nil {
			fmt.Fprintf(stderr, "jobsim: %v\n", err)
			return exitBadInput
		}
	}
	progress := stdout
	if o.output == "json" {
		progress = stderr // keep stdout a clean JSON document
	}
	if o.quiet {
		progress = io.Discard
	}

	ctx = klog.NewContext(ctx, newLogger(stderr, verbosity, verbositySet))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := newSimulation(ctx, o, progress)
	if err != nil {
		fmt.Fprintf(stderr, "jobsim: %v\n", err)
		return exitBadInput
	}
	// Nothing of the simulation writes to stdout or stderr after run
	// returns: a run stopped at --max-pods leaves the controller retrying.
	defer s.stop()
	if err := s.apply(ctx, manifests); err != nil {
		fmt.Fprintf(stderr, "jobsim: %v\n", err)
		return exitBadInput
	}
	var outcome outcome
	var runErr error
	if o.forSpan > 0 {
		outcome, runErr = s.runFor(ctx, o.forSpan)
	} else {
		outcome, runErr = s.run(ctx, o.timeout)
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "jobsim: %v\n", runErr)
	}
	if err := s.report(ctx, stdout, o.output); err != nil {
		fmt.Fprintf(stderr, "jobsim: %v\n", err)
		return exitFailed
	}
	if runErr != nil || !outcome.allCompleted {
		return exitFailed
	}
	return exitCompleted
}

// parseInterleaved parses args as kubectl does: flags may come before,
// between and after the file names (`jobsim FILE -q`), and "--" ends the
// flags, so that every argument after it is a file name. It returns the
// file names in their order.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var files []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		// Parse stops at the first non-flag, or consumes a "--" and stops
		// after it. (A "--" read as a flag's value would look the same;
		// no flag of jobsim accepts that value, so validation refuses it.)
		if consumed := args[:len(args)-len(rest)]; len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			return append(files, rest...), nil
		}
		if len(rest) == 0 {
			break
		}
		files = append(files, rest[0])
		args = rest[1:]
	}
	return files, nil
}

// validate checks the flag values that parsing alone does not, so that a
// bad value is refused before anything runs instead of hanging the run
// (--workers 0) or being reported under an internal name.
func (o options) validate() error {
	var errs []error
	if o.output != "" && o.output != "json" {
		errs = append(errs, fmt.Errorf("-o %q: unknown output format (use json, or nothing for tables)", o.output))
	}
	if o.timeout < 0 {
		errs = append(errs, fmt.Errorf("--timeout %v: want 0 or more", o.timeout))
	}
	if o.forSpan < 0 {
		errs = append(errs, fmt.Errorf("--for %v: want 0 (off) or more", o.forSpan))
	}
	switch sim.RuntimeName(o.runtime) {
	case sim.RuntimeAuto, sim.RuntimeExec, sim.RuntimeScripted:
	default:
		errs = append(errs, fmt.Errorf("--runtime %q: want auto, exec or scripted", o.runtime))
	}
	if _, err := workqueue.ParseImplementation(o.queue); err != nil {
		errs = append(errs, fmt.Errorf("--queue: %w", err))
	}
	if o.workers < 1 {
		errs = append(errs, fmt.Errorf("--workers %d: want 1 or more", o.workers))
	}
	if o.maxPods < 0 {
		errs = append(errs, fmt.Errorf("--max-pods %d: want 0 (no limit) or more", o.maxPods))
	}
	if o.nodes < 1 || o.nodes > sim.MaxNodes {
		errs = append(errs, fmt.Errorf("--nodes %d: want 1 to %d", o.nodes, sim.MaxNodes))
	}
	return errors.Join(errs...)
}
