//go:build !unix

package sim

import (
	"os"
	"os/exec"
)

// groupSignal stands in for the Unix signals the exec runtime sends. Off
// Unix there are no process groups; the main process is killed instead.
type groupSignal int

const (
	sigTerm groupSignal = iota
	sigKill
)

func startInOwnProcessGroup(*exec.Cmd) {}

func signalProcessGroup(pid int, _ groupSignal) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

func exitCode(state *os.ProcessState) int32 {
	if code := state.ExitCode(); code >= 0 {
		return int32(code)
	}
	return exitCodeSIGKILL
}
