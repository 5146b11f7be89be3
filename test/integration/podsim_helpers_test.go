package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kjob-dev/kjob/internal/testutil"
)

// podsimProcess is the podsim binary running against the suite's apiserver.
type podsimProcess struct {
	cmd            *exec.Cmd
	stdout, stderr *testutil.SyncBuffer
	exited         chan struct{}
	// exitErr is what Wait returned; read it after exited is closed.
	exitErr error
}

// buildCommand compiles cmd/<name> of this repository into a temporary
// directory and returns the binary's path.
func buildCommand(t *testing.T, name string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := filepath.Join(t.TempDir(), name)
	build := exec.Command(goTool, "build", "-o", out, "./cmd/"+name)
	build.Dir = root
	if output, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, output)
	}
	return out
}

// adminKubeconfig writes a kubeconfig for a cluster admin and returns its path.
func adminKubeconfig(t *testing.T, user string) string {
	t.Helper()
	admin, err := controlPlane.env.AddUser(envtest.User{Name: user, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startPodsim runs the podsim binary with args and stops it (SIGKILL) when
// the test ends, unless the test stopped it first.
func startPodsim(t *testing.T, args ...string) *podsimProcess {
	t.Helper()
	p := &podsimProcess{
		cmd:    exec.Command(buildCommand(t, "podsim"), args...),
		stdout: &testutil.SyncBuffer{},
		stderr: &testutil.SyncBuffer{},
		exited: make(chan struct{}),
	}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting podsim: %v", err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("podsim stderr:\n%s", p.stderr.String())
		}
	})
	return p
}

// terminate sends SIGTERM and returns the exit code.
func (p *podsimProcess) terminate(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("signalling podsim: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(waitTimeout):
		t.Fatal("podsim did not exit after SIGTERM")
	}
	return p.cmd.ProcessState.ExitCode()
}

// waitForPod polls one pod until cond holds and returns it.
func waitForPod(t *testing.T, client kubernetes.Interface, ns, name, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	last, err := pollLatest(func(ctx context.Context) (*corev1.Pod, error) {
		return client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	}, cond)
	if err != nil {
		status := "<none>"
		if last != nil {
			status = describePods([]corev1.Pod{*last})
		}
		t.Fatalf("pod %s/%s never %s; last seen: %s", ns, name, what, status)
	}
	return last
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func(context.Context) bool) {
	t.Helper()
	holds := func(ok bool) bool { return ok }
	if _, err := pollLatest(func(ctx context.Context) (bool, error) { return cond(ctx), nil }, holds); err != nil {
		t.Fatalf("gave up waiting for %s", what)
	}
}
