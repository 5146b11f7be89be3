package sim

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// RuntimeName selects how the kubelet runs a pod's containers.
type RuntimeName string

const (
	// RuntimeAuto picks RuntimeScripted for pods that carry any sim.kjob.dev/
	// annotation and RuntimeExec for all others. It is the default.
	RuntimeAuto RuntimeName = "auto"
	// RuntimeScripted plays outcomes written in pod annotations, in virtual time.
	RuntimeScripted RuntimeName = "scripted"
	// RuntimeExec runs each container's command as a process on this machine.
	RuntimeExec RuntimeName = "exec"
)

// validate accepts the three names; the empty name means RuntimeAuto.
func (n RuntimeName) validate() error {
	switch n {
	case "", RuntimeAuto, RuntimeScripted, RuntimeExec:
		return nil
	}
	return fmt.Errorf("unknown runtime %q (want %s, %s or %s)", n, RuntimeAuto, RuntimeScripted, RuntimeExec)
}

// Runtime starts container attempts for the kubelet. Start is always called
// from the kubelet's loop, one call at a time, so a runtime may keep
// unsynchronised state that only Start and its Host callbacks touch.
type Runtime interface {
	// Start begins one attempt and returns without waiting for it to end.
	// The attempt reports its end exactly once through host.Exited, also
	// when it is stopped. An error means the container could not start at
	// all; Exited is then never called.
	Start(ctx context.Context, attempt Attempt, host Host) (Container, error)
}

// Container is one started attempt.
type Container interface {
	// Stop asks the attempt to end: the equivalent of SIGTERM now and SIGKILL
	// once grace has passed. Calling it again, or after the attempt ended,
	// does nothing.
	Stop(grace time.Duration)
}

// Host is the kubelet's side of one attempt.
type Host interface {
	// Now reads the kubelet's (virtual) clock.
	Now() time.Time
	// After runs fn on the kubelet loop once d has passed on the kubelet's
	// clock. The returned function cancels it. Call it only from the loop
	// (inside Start, Stop or an earlier After callback).
	After(d time.Duration, fn func()) (cancel func())
	// Hold tells the kubelet that real work is under way (a process runs),
	// so it must not report itself idle until Exited is called.
	Hold()
	// Exited reports how the attempt ended. Safe from any goroutine; only
	// the first call counts.
	Exited(ExitStatus)
	// Log records one line of the container's output.
	Log(line string)
}

// Attempt is one start of one container of a pod.
type Attempt struct {
	// Pod is the kubelet's view of the pod when the container starts:
	// spec.nodeName, status.hostIP and status.podIP are filled in.
	Pod *corev1.Pod
	// Container is the container to run, from Pod.Spec.Containers.
	Container *corev1.Container
	// RestartCount is how often this container was restarted in this pod
	// before this attempt.
	RestartCount int32
	// Script holds the pod's parsed sim.kjob.dev/ annotations (never nil).
	Script *Script
}

// ExitStatus is how an attempt ended.
type ExitStatus struct {
	// ExitCode is the process exit code; 128+N for death by signal N.
	ExitCode int32
	// Reason is the terminated state's reason. Empty means the usual one:
	// Completed for exit code 0, Error otherwise.
	Reason string
	// Message is an optional human-readable detail.
	Message string
}

// Exit codes a container runtime reports for signal deaths and for a
// container that could not start.
const (
	exitCodeSIGTERM    int32 = 128 + 15
	exitCodeSIGKILL    int32 = 128 + 9
	exitCodeStartError int32 = 128
)

// Reasons the kubelet writes into container and pod statuses.
const (
	reasonCompleted          = "Completed"
	reasonError              = "Error"
	reasonStartError         = "StartError"
	reasonContainerCreating  = "ContainerCreating"
	reasonCrashLoopBackOff   = "CrashLoopBackOff"
	reasonConfigError        = "CreateContainerConfigError"
	reasonStatusUnknown      = "ContainerStatusUnknown"
	reasonContainersNotReady = "ContainersNotReady"
	reasonPodCompleted       = "PodCompleted"
	reasonContainersLost     = "ContainersLost"
)

// terminatedReason fills in the default reason for an exit status.
func (s ExitStatus) terminatedReason() string {
	switch {
	case s.Reason != "":
		return s.Reason
	case s.ExitCode == 0:
		return reasonCompleted
	default:
		return reasonError
	}
}
