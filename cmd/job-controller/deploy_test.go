package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// The manifests under deploy/ are checked here, next to the flags they
// pass, so a renamed flag or a typo in a field fails a test instead of a
// rollout.

const deployDir = "../../deploy"

// manifests decodes every document of every YAML file in deploy/kubernetes
// strictly: an unknown field or kind is an error.
func manifests(t *testing.T) []runtime.Object {
	t.Helper()
	decoder := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	files, err := filepath.Glob(filepath.Join(deployDir, "kubernetes", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var objs []runtime.Object
	for _, file := range files {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := reader.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, file)
			if len(bytes.TrimSpace(stripComments(doc))) == 0 {
				continue
			}
			obj, _, err := decoder.Decode(doc, nil, nil)
			require.NoError(t, err, "%s:\n%s", file, doc)
			objs = append(objs, obj)
		}
	}
	return objs
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

func findObject[T runtime.Object](t *testing.T, objs []runtime.Object) []T {
	t.Helper()
	var out []T
	for _, o := range objs {
		if typed, ok := o.(T); ok {
			out = append(out, typed)
		}
	}
	return out
}

func TestManifestsDecode(t *testing.T) {
	objs := manifests(t)
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetObjectKind().GroupVersionKind().Kind)
	}
	slices.Sort(kinds)
	assert.Equal(t, []string{"ClusterRole", "ClusterRoleBinding", "Deployment", "Namespace", "Role", "RoleBinding", "ServiceAccount"}, kinds)

	for _, o := range objs {
		meta, ok := o.(interface{ GetNamespace() string })
		require.True(t, ok)
		switch o.(type) {
		case *v1.Namespace, *rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding:
			assert.Empty(t, meta.GetNamespace())
		default:
			assert.Equal(t, defaultLeaseNamespace, meta.GetNamespace(), "%T", o)
		}
	}
}

// TestClusterRoleIsExactly pins the ClusterRole to the agreed rules; a new
// permission must be added here, with its reason in the manifest.
func TestClusterRoleIsExactly(t *testing.T) {
	roles := findObject[*rbacv1.ClusterRole](t, manifests(t))
	require.Len(t, roles, 1)
	type grant struct{ group, resource, verb string }
	var got []grant
	for _, r := range roles[0].Rules {
		assert.Empty(t, r.ResourceNames)
		assert.Empty(t, r.NonResourceURLs)
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					got = append(got, grant{g, res, v})
				}
			}
		}
	}
	want := []grant{}
	add := func(group, resource string, verbs ...string) {
		for _, v := range verbs {
			want = append(want, grant{group, resource, v})
		}
	}
	add("batch", "jobs", "get", "list", "watch", "update", "patch", "create", "delete")
	add("batch", "cronjobs", "get", "list", "watch")
	add("batch", "cronjobs/status", "update")
	add("batch", "cronjobs/finalizers", "update")
	add("batch", "jobs/status", "update", "patch")
	add("batch", "jobs/finalizers", "update")
	add("", "pods", "get", "list", "watch", "create", "delete", "patch", "update")
	add("", "events", "create", "patch", "update")
	add("events.k8s.io", "events", "create", "patch", "update")
	assert.ElementsMatch(t, want, got)
}

func TestBindingsAndLeaseRole(t *testing.T) {
	objs := manifests(t)
	sas := findObject[*v1.ServiceAccount](t, objs)
	require.Len(t, sas, 1)
	sa := sas[0]
	deployments := findObject[*appsv1.Deployment](t, objs)
	require.Len(t, deployments, 1)
	assert.Equal(t, sa.Name, deployments[0].Spec.Template.Spec.ServiceAccountName)

	crbs := findObject[*rbacv1.ClusterRoleBinding](t, objs)
	rbs := findObject[*rbacv1.RoleBinding](t, objs)
	require.Len(t, crbs, 1)
	require.Len(t, rbs, 1)
	for _, subjects := range [][]rbacv1.Subject{crbs[0].Subjects, rbs[0].Subjects} {
		assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.Name, Namespace: sa.Namespace}}, subjects)
	}
	assert.Equal(t, findObject[*rbacv1.ClusterRole](t, objs)[0].Name, crbs[0].RoleRef.Name)

	roles := findObject[*rbacv1.Role](t, objs)
	require.Len(t, roles, 1)
	assert.Equal(t, roles[0].Name, rbs[0].RoleRef.Name)
	o := deploymentOptions(t, deployments[0])
	verbs := map[string]bool{}
	for _, r := range roles[0].Rules {
		assert.Equal(t, []string{"coordination.k8s.io"}, r.APIGroups)
		assert.Equal(t, []string{"leases"}, r.Resources)
		if len(r.ResourceNames) > 0 {
			assert.Equal(t, []string{o.leaseName}, r.ResourceNames, "the Role names the Lease the controller uses")
		}
		for _, v := range r.Verbs {
			verbs[v] = true
		}
	}
	assert.Equal(t, map[string]bool{"get": true, "create": true, "update": true}, verbs)
	assert.Equal(t, roles[0].Namespace, o.leaseNamespace)
}

// deploymentOptions parses the Deployment's args with the command's own
// flag parser, expanding $(VAR) from the container's env as the kubelet does.
func deploymentOptions(t *testing.T, d *appsv1.Deployment) *options {
	t.Helper()
	require.Len(t, d.Spec.Template.Spec.Containers, 1)
	c := d.Spec.Template.Spec.Containers[0]
	var args []string
	for _, a := range c.Args {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace" {
				a = strings.ReplaceAll(a, "$("+e.Name+")", d.Namespace)
			}
		}
		args = append(args, a)
	}
	o, err := parseOptions(args, io.Discard)
	require.NoError(t, err, "args %v", args)
	return o
}

func TestDeployment(t *testing.T) {
	d := findObject[*appsv1.Deployment](t, manifests(t))[0]
	o := deploymentOptions(t, d)
	assert.Equal(t, defaultManagedBy, o.managedBy)
	assert.False(t, o.manageBuiltInJobs, "safe beside the built-in controller unless told otherwise")
	assert.True(t, o.leaderElect)
	// The CronJob controller must not run beside kube-controller-manager's,
	// which honours no annotation; TTL is kube-controller-manager's too.
	// docs/kind.md turns the CronJob controller on where that one is off.
	assert.False(t, o.enableCronJob, "safe beside the built-in CronJob controller")
	assert.False(t, o.enableTTLAfterFinished, "kube-controller-manager's TTL controller does it")

	c := d.Spec.Template.Spec.Containers[0]
	require.Len(t, c.Ports, 1)
	assert.Equal(t, fmt.Sprintf(":%d", c.Ports[0].ContainerPort), o.bindAddress)
	require.NotNil(t, c.LivenessProbe)
	require.NotNil(t, c.ReadinessProbe)
	assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	assert.Equal(t, c.Ports[0].Name, c.LivenessProbe.HTTPGet.Port.String())
	assert.Equal(t, c.Ports[0].Name, c.ReadinessProbe.HTTPGet.Port.String())
	assert.False(t, c.Resources.Requests.Cpu().IsZero())
	assert.False(t, c.Resources.Limits.Memory().IsZero())

	pod := d.Spec.Template.Spec.SecurityContext
	require.NotNil(t, pod)
	assert.True(t, *pod.RunAsNonRoot)
	assert.Equal(t, int64(65532), *pod.RunAsUser)
	require.NotNil(t, c.SecurityContext)
	assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
	assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
	assert.Equal(t, []v1.Capability{"ALL"}, c.SecurityContext.Capabilities.Drop)
}

func TestKindConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(deployDir, "kind", "kind-config.yaml"))
	require.NoError(t, err)
	var cfg struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
		Nodes      []struct {
			Role                 string   `json:"role"`
			KubeadmConfigPatches []string `json:"kubeadmConfigPatches"`
		} `json:"nodes"`
	}
	require.NoError(t, yaml.UnmarshalStrict(data, &cfg))
	assert.Equal(t, "Cluster", cfg.Kind)
	assert.Equal(t, "kind.x-k8s.io/v1alpha4", cfg.APIVersion)
	var controllers []string
	for _, n := range cfg.Nodes {
		for _, p := range n.KubeadmConfigPatches {
			var patch struct {
				Kind              string `json:"kind"`
				ControllerManager struct {
					ExtraArgs map[string]string `json:"extraArgs"`
				} `json:"controllerManager"`
			}
			require.NoError(t, yaml.Unmarshal([]byte(p), &patch))
			if patch.Kind == "ClusterConfiguration" {
				controllers = append(controllers, patch.ControllerManager.ExtraArgs["controllers"])
			}
		}
	}
	assert.Equal(t, []string{"*,-job-controller,-cronjob-controller"}, controllers)
}

func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	require.NoError(t, err)
	text := string(data)
	assert.Contains(t, text, "CGO_ENABLED=0", "a static binary")
	assert.Contains(t, text, "./cmd/job-controller")
	assert.Contains(t, text, "FROM gcr.io/distroless/static")
	assert.Contains(t, text, "USER 65532:65532")
	assert.Equal(t, 2, strings.Count(text, "\nFROM "), "two stages")
}
