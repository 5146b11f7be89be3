package integration

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/kjob-dev/kjob/internal/testutil"
)

// The names the shipped manifests give the controller's identity.
const (
	deployNamespace      = "kjob-system"
	deployServiceAccount = "kjob-job-controller"
	deployManagedBy      = "kjob.dev/job-controller"
	// The annotation, and the --cronjob-managed-by default, that put a
	// CronJob in the hands of kjob's CronJob controller.
	deployCronJobAnnotation = "kjob.dev/managed-by"
	deployCronJobManagedBy  = "kjob.dev/cronjob-controller"
)

// readDeployManifests decodes every object of deploy/kubernetes/, in file
// order.
func readDeployManifests(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "deploy", "kubernetes")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	sort.Strings(files)
	var objs []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			obj := &unstructured.Unstructured{}
			err := decoder.Decode(&obj.Object)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, filepath.Base(f))
			if len(obj.Object) > 0 {
				objs = append(objs, obj)
			}
		}
	}
	return objs
}

// applyManifests creates objs through the dynamic client; with dryRun the
// apiserver validates and admits each one (strict field validation) and
// stores nothing.
func applyManifests(t *testing.T, objs []*unstructured.Unstructured, dryRun bool) {
	t.Helper()
	cfg := controlPlane.config
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(cfg)))
	dyn := dynamic.NewForConfigOrDie(cfg)
	opts := metav1.CreateOptions{FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		require.NoError(t, err, "%s %s", gvk.Kind, obj.GetName())
		var resource dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			resource = dyn.Resource(mapping.Resource).Namespace(obj.GetNamespace())
		}
		_, err = resource.Create(context.Background(), obj, opts)
		if !dryRun && apierrors.IsAlreadyExists(err) {
			continue
		}
		require.NoError(t, err, "%s %s (dry run %v)", gvk.Kind, obj.GetName(), dryRun)
	}
}

// serviceAccountKubeconfig is an admin kubeconfig that impersonates the
// controller's ServiceAccount, so every request is authorised exactly as
// the Deployment's pod would be.
func serviceAccountKubeconfig(t *testing.T) string {
	t.Helper()
	path := adminKubeconfig(t, "rbac-test-admin")
	cfg, err := clientcmd.LoadFromFile(path)
	require.NoError(t, err)
	for _, auth := range cfg.AuthInfos {
		auth.Impersonate = "system:serviceaccount:" + deployNamespace + ":" + deployServiceAccount
	}
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	return path
}

// TestShippedRBAC applies deploy/kubernetes/ to the real apiserver and runs
// the job-controller binary with nothing but the shipped role: the
// manifests pass server-side validation, the hello Job completes, the
// controller needs no request the role does not grant, and a request
// outside the role is forbidden.
//
// The binary runs with the CronJob and TTL-after-finished controllers on.
// The shipped Deployment leaves them off, but docs/kind.md turns the
// CronJob one on and the role grants what both need: a CronJob annotated
// for kjob gets its Job and its status written (the first start time is
// up to a minute away), and a finished Job with ttlSecondsAfterFinished: 0
// is deleted.
func TestShippedRBAC(t *testing.T) {
	client := requireControlPlane(t)
	objs := readDeployManifests(t)
	var namespaces, rest []*unstructured.Unstructured
	for _, obj := range objs {
		if obj.GetKind() == "Namespace" {
			namespaces = append(namespaces, obj)
		} else {
			rest = append(rest, obj)
		}
	}
	// Namespaced objects can only be dry-run once their namespace exists.
	applyManifests(t, namespaces, true)
	applyManifests(t, namespaces, false)
	applyManifests(t, rest, true)
	var access []*unstructured.Unstructured
	for _, obj := range rest {
		if obj.GetKind() != "Deployment" { // nothing here would run its pod
			access = append(access, obj)
		}
	}
	applyManifests(t, access, false)

	kubeconfig := serviceAccountKubeconfig(t)
	out := &testutil.SyncBuffer{}
	cmd := exec.Command(buildCommand(t, "job-controller"),
		"--kubeconfig="+kubeconfig,
		"--managed-by="+deployManagedBy,
		"--leader-elect=true",
		"--leader-elect-namespace="+deployNamespace,
		"--leader-elect-lease-name=kjob-job-controller",
		"--bind-address=127.0.0.1:0",
		"--enable-cronjob-controller",
		"--enable-ttl-after-finished-controller",
		"--v=2",
	)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false // the test saw the process exit
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("job-controller output:\n%s", out.String())
		}
	})

	ns := newNamespace(t, client)
	job := loadJob(t, "hello-job.yaml")
	job.Spec.ManagedBy = ptr.To(deployManagedBy)
	job = createJob(t, client, ns, job)
	// A Job of the built-in controller (no spec.managedBy): without
	// --manage-builtin-jobs the binary must leave it alone.
	builtIn := createJob(t, client, ns, scripted("builtin", nil))

	// The CronJob and TTL controllers work in a namespace of their own, so
	// their pods do not mix with the hello Job's.
	cronNS := newNamespace(t, client)
	short := scripted("short", map[string]string{"sim.kjob.dev/duration": "200ms"})
	short.Spec.ManagedBy = ptr.To(deployManagedBy)
	cj, err := client.BatchV1().CronJobs(cronNS).Create(context.Background(), &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "every-minute", Annotations: map[string]string{deployCronJobAnnotation: deployCronJobManagedBy}},
		Spec:       batchv1.CronJobSpec{Schedule: "* * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: short.Spec}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	expiring := scripted("expiring", map[string]string{"sim.kjob.dev/duration": "200ms"})
	expiring.Spec.ManagedBy = ptr.To(deployManagedBy)
	expiring.Spec.TTLSecondsAfterFinished = ptr.To[int32](0)
	createJob(t, client, cronNS, expiring)

	job = waitForJob(t, client, ns, job.Name, "Complete", func(j *batchv1.Job) bool {
		return hasCondition(j, batchv1.JobComplete)
	})
	assert.Equal(t, int32(16), job.Status.Succeeded)
	waitForPods(t, client, ns, "finished without finalizers", noFinalizers)

	waitForJobGone(t, client, cronNS, expiring.Name)
	err = wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 90*time.Second, true,
		func(ctx context.Context) (bool, error) {
			got, err := client.BatchV1().CronJobs(cronNS).Get(ctx, cj.Name, metav1.GetOptions{})
			if err != nil || got.Status.LastScheduleTime == nil {
				return false, nil
			}
			jobs, err := client.BatchV1().Jobs(cronNS).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, nil
			}
			for i := range jobs.Items {
				if metav1.IsControlledBy(&jobs.Items[i], got) {
					return true, nil
				}
			}
			return false, nil
		})
	require.NoError(t, err, "the CronJob got a Job and a status write within a minute and a half")

	lease, err := client.CoordinationV1().Leases(deployNamespace).Get(context.Background(), "kjob-job-controller", metav1.GetOptions{})
	require.NoError(t, err, "the controller took its Lease under the shipped Role")
	assert.NotEmpty(t, ptr.Deref(lease.Spec.HolderIdentity, ""))
	assert.Empty(t, forbiddenLines(out.String()), "the controller made requests its role does not grant")

	got, err := client.BatchV1().Jobs(ns).Get(context.Background(), builtIn.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, builtIn.ResourceVersion, got.ResourceVersion, "the built-in controller's Job was never written")
	pods, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	for i := range pods.Items {
		ref := metav1.GetControllerOf(&pods.Items[i])
		assert.True(t, ref != nil && ref.UID == job.UID, "pod %s has controller %v", pods.Items[i].Name, ref)
	}

	// The same identity, asked to step outside its role.
	saConfig, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	require.NoError(t, err)
	sa := kubernetes.NewForConfigOrDie(saConfig)
	_, err = sa.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{})
	assert.True(t, apierrors.IsForbidden(err), "listing Secrets: %v", err)
	err = sa.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	assert.True(t, apierrors.IsForbidden(err), "deleting a Namespace: %v", err)
	_, err = sa.CoordinationV1().Leases(ns).Create(context.Background(), lease.DeepCopy(), metav1.CreateOptions{})
	assert.True(t, apierrors.IsForbidden(err), "a Lease outside its namespace: %v", err)

	// SIGTERM: the workers finish, the Lease is given up (emptied, so a
	// standby need not wait for it to expire), and the exit status is 0.
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		stopped = true
		require.NoError(t, err, "a clean exit after SIGTERM")
	case <-time.After(waitTimeout):
		t.Fatal("the controller did not exit after SIGTERM")
	}
	lease, err = client.CoordinationV1().Leases(deployNamespace).Get(context.Background(), "kjob-job-controller", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Empty(t, ptr.Deref(lease.Spec.HolderIdentity, ""), "the Lease was released")
	assert.Contains(t, out.String(), "Job controller stopped cleanly")
}

// forbiddenLines picks the log lines that report a refused request.
func forbiddenLines(log string) []string {
	var lines []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(strings.ToLower(line), "forbidden") {
			lines = append(lines, line)
		}
	}
	return lines
}
