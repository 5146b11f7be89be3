//go:build unix

package sim

import (
	"os"
	"os/exec"
	"syscall"
)

// groupSignal is a signal the exec runtime sends to a container's processes.
type groupSignal = syscall.Signal

const (
	sigTerm groupSignal = syscall.SIGTERM
	sigKill groupSignal = syscall.SIGKILL
)

// startInOwnProcessGroup makes the process lead a new process group, so the
// kubelet can signal it together with everything it starts, the way a
// container runtime signals a whole container.
func startInOwnProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// signalProcessGroup signals every process of the group led by pid. A group
// that is already gone is not an error worth reporting.
func signalProcessGroup(pid int, s groupSignal) {
	_ = syscall.Kill(-pid, s)
}

// exitCode reports a process end the way container runtimes do: the exit
// status, or 128 plus the signal number for a death by signal.
func exitCode(state *os.ProcessState) int32 {
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int32(ws.Signal())
	}
	return int32(state.ExitCode())
}
