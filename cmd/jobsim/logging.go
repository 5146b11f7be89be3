package main

import (
	"io"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2/textlogger"
)

// newLogger is the logger the simulation's controllers and kubelet get
// through their context. Without -v a run shows only errors, so the
// output is the Jobs' own story (pod logs, progress, tables); -v=N shows
// the controller's decisions up to klog verbosity N.
func newLogger(w io.Writer, verbosity int, verbositySet bool) logr.Logger {
	base := textlogger.NewLogger(textlogger.NewConfig(textlogger.Output(w), textlogger.Verbosity(verbosity)))
	if verbositySet {
		return base
	}
	return logr.New(errorsOnly{base.GetSink()})
}

// errorsOnly passes errors through and drops every info line.
type errorsOnly struct{ logr.LogSink }

func (e errorsOnly) Enabled(int) bool { return false }

func (e errorsOnly) WithValues(kv ...any) logr.LogSink {
	return errorsOnly{e.LogSink.WithValues(kv...)}
}

func (e errorsOnly) WithName(name string) logr.LogSink {
	return errorsOnly{e.LogSink.WithName(name)}
}
