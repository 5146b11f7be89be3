// Package integration runs the Job controller against a real kube-apiserver
// and etcd, with kube-controller-manager running the controllers a real
// cluster has around it (service accounts, namespaces, garbage collector)
// but not its own job-controller.
//
// The binaries come from hack/build-tools.sh (`make tools`), which builds
// them from the Go module proxy into bin/. Without them the tests skip,
// unless KJOB_REQUIRE_INTEGRATION=1 (set by `make test`) makes a missing
// binary a failure, so CI can never pass by skipping.
package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// controlPlane is shared by every test of the package; each test works in a
// namespace of its own.
var controlPlane struct {
	env    *envtest.Environment
	config *rest.Config
	client kubernetes.Interface
	// skipReason is set when the binaries are missing and not required.
	skipReason string
}

// kcmControllers are the kube-controller-manager controllers a Job
// controller relies on in a real cluster. The built-in job, cronjob and
// ttl-after-finished controllers are left out: this project is the Job
// controller here.
var kcmControllers = []string{
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"root-ca-certificate-publisher-controller",
	"namespace-controller",
	"garbage-collector-controller",
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	binDir, err := binaryDir()
	if err != nil {
		if os.Getenv("KJOB_REQUIRE_INTEGRATION") == "1" {
			fmt.Fprintf(os.Stderr, "integration: %v\n", err)
			return 1
		}
		controlPlane.skipReason = err.Error() + " (run `make tools`)"
		return m.Run()
	}
	stop, err := startControlPlane(binDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: starting the control plane: %v\n", err)
		if stop != nil {
			stop()
		}
		return 1
	}
	code := m.Run()
	stop()
	return code
}

// binaryDir finds the directory holding the control-plane binaries:
// $KJOB_TEST_BIN, or bin/ at the repository root.
func binaryDir() (string, error) {
	dir := os.Getenv("KJOB_TEST_BIN")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", "bin")
	}
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("control-plane binary %s not found in %s", name, dir)
		}
	}
	return filepath.Abs(dir)
}

// startControlPlane starts etcd and kube-apiserver through envtest, then
// kube-controller-manager as a child process, and waits until the default
// namespace has its ServiceAccount (pods are refused before that).
func startControlPlane(binDir string) (stop func(), err error) {
	certDir, err := os.MkdirTemp("", "kjob-integration-certs-")
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    binDir,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	apiServer := env.ControlPlane.GetAPIServer()
	apiServer.CertDir = certDir
	// envtest turns ServiceAccount admission off because it runs no
	// controller manager; this suite does, so pods meet the same admission
	// as on a real cluster.
	apiServer.Configure().Set("disable-admission-plugins", "")
	if os.Getenv("KJOB_INTEGRATION_LOGS") != "" {
		env.AttachControlPlaneOutput = true
	}

	var kcm *exec.Cmd
	stop = func() {
		if kcm != nil && kcm.Process != nil {
			_ = kcm.Process.Kill()
			_ = kcm.Wait()
		}
		_ = env.Stop()
		_ = os.RemoveAll(certDir)
	}

	cfg, err := env.Start()
	if err != nil {
		return stop, err
	}
	controlPlane.env = env
	controlPlane.config = cfg
	controlPlane.client = kubernetes.NewForConfigOrDie(cfg)

	kcm, err = startControllerManager(binDir, certDir, env)
	if err != nil {
		return stop, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := waitForServiceAccount(ctx, controlPlane.client, metav1.NamespaceDefault); err != nil {
		return stop, fmt.Errorf("kube-controller-manager did not create the default ServiceAccount: %w", err)
	}
	stopKubelet, err := startKubelet(controlPlane.client)
	if err != nil {
		return stop, err
	}
	stopPlane := stop
	stop = func() {
		stopKubelet()
		stopPlane()
	}
	return stop, nil
}

func startControllerManager(binDir, certDir string, env *envtest.Environment) (*exec.Cmd, error) {
	admin, err := env.AddUser(envtest.User{Name: "kcm-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return nil, err
	}
	kubeconfigPath := filepath.Join(certDir, "kcm.kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		return nil, err
	}
	caPath := filepath.Join(certDir, "serving-ca.crt")
	if err := os.WriteFile(caPath, env.ControlPlane.APIServer.SecureServing.CA, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(binDir, "kube-controller-manager"),
		"--kubeconfig="+kubeconfigPath,
		"--controllers="+strings.Join(kcmControllers, ","),
		"--service-account-private-key-file="+filepath.Join(certDir, "sa-signer.key"),
		"--root-ca-file="+caPath,
		"--leader-elect=false",
		"--secure-port=0",
	)
	if os.Getenv("KJOB_INTEGRATION_LOGS") != "" {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd, nil
}

func waitForServiceAccount(ctx context.Context, client kubernetes.Interface, namespace string) error {
	return wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(namespace).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
}

// requireControlPlane skips the test when the binaries are missing and not
// required, and returns the admin client.
func requireControlPlane(t *testing.T) kubernetes.Interface {
	t.Helper()
	if controlPlane.skipReason != "" {
		t.Skip(controlPlane.skipReason)
	}
	return controlPlane.client
}

// newNamespace creates a namespace for one test, waits for its default
// ServiceAccount, and deletes it when the test ends.
func newNamespace(t *testing.T, client kubernetes.Interface) string {
	t.Helper()
	ctx := context.Background()
	ns, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "kjob-it-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := waitForServiceAccount(waitCtx, client, ns.Name); err != nil {
		t.Fatalf("namespace %s has no default ServiceAccount: %v", ns.Name, err)
	}
	return ns.Name
}
