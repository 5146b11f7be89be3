package sim

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// execRuntime runs each container as a process on this machine. The image is
// never pulled: the command line runs against the host's own binaries, so
// `args: [/bin/sh, -c, ...]` runs the host's /bin/sh.
//
// A process lives in real time. While it runs the kubelet holds the virtual
// clock (Host.Hold), so simulated time does not race ahead of it, and the
// grace period between SIGTERM and SIGKILL is measured on the wall clock.
type execRuntime struct {
	// wall times the grace period; clock.RealClock outside tests.
	wall clock.WithDelayedExecution
	// processes counts the goroutines that wait for processes; the kubelet
	// waits for it so that no child outlives Run unreaped.
	processes *sync.WaitGroup
}

// maxLogLineBytes splits longer lines of output, so a process that never
// writes a newline cannot make the kubelet buffer without bound.
const maxLogLineBytes = 64 << 10

// linesDrainTimeout bounds how long the kubelet waits for the output pipe
// to close once the process group is gone; only a process that left its
// group on purpose can keep it open.
const linesDrainTimeout = 2 * time.Second

// checkExecConfig rejects a pod whose containers the exec runtime cannot
// build a process for (an unsupported env source, no command line). The
// kubelet calls it before starting anything, so such a pod fails as a
// configuration error rather than as a crashing container.
func checkExecConfig(pod *corev1.Pod) error {
	var errs []error
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		env, err := containerEnv(pod, c)
		if err == nil {
			_, err = commandLine(c, env)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *execRuntime) Start(ctx context.Context, a Attempt, host Host) (Container, error) {
	env, err := containerEnv(a.Pod, a.Container)
	if err != nil {
		return nil, err
	}
	argv, err := commandLine(a.Container, env)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = processEnv(a, env)
	cmd.Dir = a.Container.WorkingDir
	if cmd.Dir == "" {
		cmd.Dir = os.TempDir()
	}
	startInOwnProcessGroup(cmd)

	// One pipe for stdout and stderr keeps the lines in the order written,
	// as `kubectl logs` shows them.
	output, outputWriter, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = outputWriter, outputWriter
	err = cmd.Start()
	outputWriter.Close() // the child holds its own copy
	if err != nil {
		output.Close()
		return nil, err
	}

	host.Hold()
	p := &execProcess{cmd: cmd, host: host, wall: r.wall}
	r.processes.Add(1)
	go func() {
		defer r.processes.Done()
		p.wait(ctx, output)
	}()
	return p, nil
}

// processEnv is the environment the process sees: a minimal base a
// container image would provide, then the container's own env.
func processEnv(a Attempt, env []envVar) []string {
	hostname := a.Pod.Spec.Hostname
	if hostname == "" {
		hostname = a.Pod.Name
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	out := []string{"PATH=" + path, "HOSTNAME=" + hostname}
	if home := os.Getenv("HOME"); home != "" {
		out = append(out, "HOME="+home)
	}
	for _, e := range env {
		out = append(out, e.Name+"="+e.Value)
	}
	return out // for a repeated name, the last entry wins
}

// execProcess is one running process and its process group.
type execProcess struct {
	cmd  *exec.Cmd
	host Host
	wall clock.WithDelayedExecution

	mu sync.Mutex
	// stopping is set by the first Stop; reaped once the process was
	// waited for. After reaped no signal may be sent: the process-group id
	// is no longer ours.
	stopping, reaped bool
	// killTimer sends SIGKILL when the grace period ends.
	killTimer clock.Timer
}

// wait reaps the process, reports its exit and releases the clock hold.
func (p *execProcess) wait(ctx context.Context, output *os.File) {
	linesDone := make(chan struct{})
	go func() {
		defer close(linesDone)
		forEachLine(output, p.host.Log)
	}()
	// Cancelling Run kills the whole group at once.
	stopKillOnCancel := context.AfterFunc(ctx, func() { p.signal(sigKill) })

	waitErr := p.cmd.Wait()
	stopKillOnCancel()
	// A container ends with its main process; whatever it started in the
	// background goes with it, which also closes their copies of the pipe.
	p.signal(sigKill)
	p.mu.Lock()
	p.reaped = true
	if p.killTimer != nil {
		p.killTimer.Stop()
	}
	p.mu.Unlock()

	select {
	case <-linesDone:
	case <-p.wall.After(linesDrainTimeout):
	}
	output.Close()
	<-linesDone

	status := ExitStatus{ExitCode: exitCode(p.cmd.ProcessState)}
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		status.Message = waitErr.Error()
	}
	p.host.Exited(status)
}

// Stop sends SIGTERM to the process group and SIGKILL when grace is over.
func (p *execProcess) Stop(grace time.Duration) {
	p.mu.Lock()
	if p.stopping || p.reaped {
		p.mu.Unlock()
		return
	}
	p.stopping = true
	if grace > 0 {
		p.killTimer = p.wall.AfterFunc(grace, func() { p.signal(sigKill) })
	}
	p.mu.Unlock()
	if grace > 0 {
		p.signal(sigTerm)
	} else {
		p.signal(sigKill)
	}
}

// signal sends a signal to the process group unless the process is reaped.
func (p *execProcess) signal(s groupSignal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.reaped {
		signalProcessGroup(p.cmd.Process.Pid, s)
	}
}

// forEachLine calls emit for each line read from r, without the line end.
// Lines longer than maxLogLineBytes are split; a last unterminated line is
// emitted too.
func forEachLine(r io.Reader, emit func(string)) {
	br := bufio.NewReaderSize(r, maxLogLineBytes)
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			line := chunk
			if line[len(line)-1] == '\n' {
				line = line[:len(line)-1]
				if n := len(line); n > 0 && line[n-1] == '\r' {
					line = line[:n-1]
				}
			}
			emit(string(line))
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}
