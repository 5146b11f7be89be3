package sim_test

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var generatedSuffix = regexp.MustCompile(`^[bcdfghjklmnpqrstvwxz2456789]{5}$`)

func TestCreateFillsServerFields(t *testing.T) {
	tests := []struct {
		name         string
		pod          *corev1.Pod
		wantPrefix   string // the name must be this plus five generated characters
		wantName     string // or exactly this
		wantErrField string // or creation fails naming this field
	}{
		{name: "name kept", pod: testPod("fixed"), wantName: "fixed"},
		{name: "generateName gets five random characters", pod: testPod("", func(p *corev1.Pod) { p.GenerateName = "hello-" }), wantPrefix: "hello-"},
		{
			name:       "generateName prefix cut to 58 characters",
			pod:        testPod("", func(p *corev1.Pod) { p.GenerateName = strings.Repeat("a", 70) }),
			wantPrefix: strings.Repeat("a", 58),
		},
		{name: "neither name nor generateName", pod: testPod(""), wantErrField: "metadata.name"},
		{name: "name not a DNS subdomain", pod: testPod("Not_Valid"), wantErrField: "metadata.name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, clk := newTestCluster(t)
			clk.Step(1500 * time.Millisecond)
			out, err := c.Client().CoreV1().Pods(testNamespace).Create(context.Background(), tc.pod, metav1.CreateOptions{})
			if tc.wantErrField != "" {
				if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.wantErrField) {
					t.Fatalf("err = %v, want Invalid naming %s", err, tc.wantErrField)
				}
				return
			}
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			switch {
			case tc.wantName != "" && out.Name != tc.wantName:
				t.Errorf("name = %q, want %q", out.Name, tc.wantName)
			case tc.wantPrefix != "" && (!strings.HasPrefix(out.Name, tc.wantPrefix) || !generatedSuffix.MatchString(out.Name[len(tc.wantPrefix):])):
				t.Errorf("name = %q, want %q plus five generated characters", out.Name, tc.wantPrefix)
			}
			if out.UID == "" {
				t.Errorf("no uid assigned")
			}
			if out.ResourceVersion == "" {
				t.Errorf("no resourceVersion assigned")
			}
			// Whole seconds, as the API shows times.
			if want := clockStart.Add(time.Second); !out.CreationTimestamp.Time.Equal(want) {
				t.Errorf("creationTimestamp = %v, want %v", out.CreationTimestamp, want)
			}
			if out.Status.Phase != corev1.PodPending {
				t.Errorf("phase = %q, want Pending", out.Status.Phase)
			}
			if stored := getPod(t, c, out.Name); stored == nil || stored.UID != out.UID {
				t.Errorf("the stored pod differs from the one returned: %v", stored)
			}
		})
	}
}

func TestCreateRejectsWhatTheAPIServerRejects(t *testing.T) {
	tests := []struct {
		name  string
		pod   *corev1.Pod
		check func(error) bool
	}{
		{name: "resourceVersion set", pod: testPod("p", func(p *corev1.Pod) { p.ResourceVersion = "7" }), check: apierrors.IsBadRequest},
		{name: "namespace differs from the request", pod: testPod("p", func(p *corev1.Pod) { p.Namespace = "other" }), check: apierrors.IsBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestCluster(t)
			_, err := c.Client().CoreV1().Pods(testNamespace).Create(context.Background(), tc.pod, metav1.CreateOptions{})
			if !tc.check(err) {
				t.Errorf("err = %v", err)
			}
		})
	}
	t.Run("name taken", func(t *testing.T) {
		c, _ := newTestCluster(t)
		createPod(t, c, testPod("p"))
		_, err := c.Client().CoreV1().Pods(testNamespace).Create(context.Background(), testPod("p"), metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			t.Errorf("err = %v, want AlreadyExists", err)
		}
	})
}

func TestGeneratedNamesAreUniqueAndReproducible(t *testing.T) {
	names := func() []string {
		c, _ := newTestCluster(t)
		var out []string
		seen := map[string]bool{}
		for i := 0; i < 200; i++ {
			p := createPod(t, c, testPod("", func(p *corev1.Pod) { p.GenerateName = "w-" }))
			if seen[p.Name] {
				t.Fatalf("generated name %q twice", p.Name)
			}
			seen[p.Name] = true
			out = append(out, p.Name)
		}
		return out
	}
	first, second := names(), names()
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("run 2 named pod %d %q, run 1 %q: names should repeat with the same seed", i, second[i], first[i])
		}
	}
}

func TestResourceVersionIncreasesOnEveryWrite(t *testing.T) {
	c, _ := newTestCluster(t)
	ctx := context.Background()
	pods := c.Client().CoreV1().Pods(testNamespace)
	var versions []string
	p := createPod(t, c, testPod("p"))
	versions = append(versions, p.ResourceVersion)
	createJob(t, c, testJob("j")) // another resource also moves the version
	p.Labels["round"] = "1"
	p, err := pods.Update(ctx, p, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	versions = append(versions, p.ResourceVersion)
	p.Status.Phase = corev1.PodRunning
	p, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	versions = append(versions, p.ResourceVersion)
	p, err = pods.Patch(ctx, "p", types.MergePatchType, []byte(`{"metadata":{"labels":{"round":"2"}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	versions = append(versions, p.ResourceVersion)
	last := uint64(0)
	for i, v := range versions {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n <= last {
			t.Fatalf("write %d has resourceVersion %q after %d, want a larger number", i, v, last)
		}
		last = n
	}
}

func TestUpdateConflicts(t *testing.T) {
	tests := []struct {
		name string
		// mutate turns the object read before another writer's update into
		// the one sent.
		mutate       func(read *corev1.Pod)
		wantConflict bool
	}{
		{name: "stale resourceVersion", mutate: func(*corev1.Pod) {}, wantConflict: true},
		{name: "no resourceVersion is an unconditional update", mutate: func(p *corev1.Pod) { p.ResourceVersion = "" }, wantConflict: false},
		{name: "other uid", mutate: func(p *corev1.Pod) { p.ResourceVersion = ""; p.UID = "someone-else" }, wantConflict: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestCluster(t)
			ctx := context.Background()
			pods := c.Client().CoreV1().Pods(testNamespace)
			read := createPod(t, c, testPod("p"))
			other := read.DeepCopy()
			other.Labels["writer"] = "other"
			if _, err := pods.Update(ctx, other, metav1.UpdateOptions{}); err != nil {
				t.Fatalf("first update: %v", err)
			}
			read.Labels["writer"] = "me"
			tc.mutate(read)
			_, err := pods.Update(ctx, read, metav1.UpdateOptions{})
			if apierrors.IsConflict(err) != tc.wantConflict {
				t.Errorf("err = %v, want conflict %v", err, tc.wantConflict)
			}
		})
	}
}

func TestStatusSubresource(t *testing.T) {
	tests := []struct {
		name      string
		write     func(ctx context.Context, pods podClient, p *corev1.Pod) error
		wantPhase corev1.PodPhase
		wantLabel string
	}{
		{
			name: "update of the main resource keeps the stored status",
			write: func(ctx context.Context, pods podClient, p *corev1.Pod) error {
				p.Status.Phase = corev1.PodSucceeded
				p.Labels["app"] = "changed"
				_, err := pods.Update(ctx, p, metav1.UpdateOptions{})
				return err
			},
			wantPhase: corev1.PodPending, wantLabel: "changed",
		},
		{
			name: "status update changes only the status",
			write: func(ctx context.Context, pods podClient, p *corev1.Pod) error {
				p.Status.Phase = corev1.PodRunning
				p.Labels["app"] = "changed"
				_, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
				return err
			},
			wantPhase: corev1.PodRunning, wantLabel: "test",
		},
		{
			name: "patch of the main resource keeps the stored status",
			write: func(ctx context.Context, pods podClient, p *corev1.Pod) error {
				_, err := pods.Patch(ctx, p.Name, types.MergePatchType, []byte(`{"metadata":{"labels":{"app":"changed"}},"status":{"phase":"Failed"}}`), metav1.PatchOptions{})
				return err
			},
			wantPhase: corev1.PodPending, wantLabel: "changed",
		},
		{
			name: "status patch changes only the status",
			write: func(ctx context.Context, pods podClient, p *corev1.Pod) error {
				_, err := pods.Patch(ctx, p.Name, types.StrategicMergePatchType, []byte(`{"metadata":{"labels":{"app":"changed"}},"status":{"phase":"Running"}}`), metav1.PatchOptions{}, "status")
				return err
			},
			wantPhase: corev1.PodRunning, wantLabel: "test",
		},
		{
			name: "json patch",
			write: func(ctx context.Context, pods podClient, p *corev1.Pod) error {
				_, err := pods.Patch(ctx, p.Name, types.JSONPatchType, []byte(`[{"op":"replace","path":"/metadata/labels/app","value":"changed"}]`), metav1.PatchOptions{})
				return err
			},
			wantPhase: corev1.PodPending, wantLabel: "changed",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestCluster(t)
			p := createPod(t, c, testPod("p"))
			if err := tc.write(context.Background(), c.Client().CoreV1().Pods(testNamespace), p); err != nil {
				t.Fatalf("write: %v", err)
			}
			got := getPod(t, c, "p")
			if got.Status.Phase != tc.wantPhase || got.Labels["app"] != tc.wantLabel {
				t.Errorf("stored phase %q, label app=%q; want %q, %q", got.Status.Phase, got.Labels["app"], tc.wantPhase, tc.wantLabel)
			}
		})
	}
}

type podClient interface {
	Update(context.Context, *corev1.Pod, metav1.UpdateOptions) (*corev1.Pod, error)
	UpdateStatus(context.Context, *corev1.Pod, metav1.UpdateOptions) (*corev1.Pod, error)
	Patch(context.Context, string, types.PatchType, []byte, metav1.PatchOptions, ...string) (*corev1.Pod, error)
}

func TestNoOpUpdateIsNotAWrite(t *testing.T) {
	c, _ := newTestCluster(t)
	p := createPod(t, c, testPod("p"))
	before := c.Writes()
	out, err := c.Client().CoreV1().Pods(testNamespace).Update(context.Background(), p, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Writes() != before {
		t.Errorf("Writes() went from %d to %d on an update that changed nothing", before, c.Writes())
	}
	if out.ResourceVersion != p.ResourceVersion {
		t.Errorf("resourceVersion moved from %s to %s on a no-op update", p.ResourceVersion, out.ResourceVersion)
	}
}

func TestWritesCountsEverySuccessfulWrite(t *testing.T) {
	c, _ := newTestCluster(t)
	ctx := context.Background()
	pods := c.Client().CoreV1().Pods(testNamespace)
	p := createPod(t, c, testPod("p"))                                     // 1
	p.Labels["x"] = "y"                                                    //
	if _, err := pods.Update(ctx, p, metav1.UpdateOptions{}); err != nil { // 2
		t.Fatal(err)
	}
	if _, err := pods.Update(ctx, p, metav1.UpdateOptions{}); !apierrors.IsConflict(err) { // stale: not a write
		t.Fatalf("err = %v, want a conflict", err)
	}
	if err := pods.Delete(ctx, "p", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil { // 3
		t.Fatal(err)
	}
	if got := c.Writes(); got != 3 {
		t.Errorf("Writes() = %d, want 3", got)
	}
}

func TestJobGeneration(t *testing.T) {
	c, _ := newTestCluster(t)
	ctx := context.Background()
	jobs := c.Client().BatchV1().Jobs(testNamespace)
	j := createJob(t, c, testJob("j", func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To[int32](2) }))
	if j.Generation != 1 {
		t.Fatalf("generation on create = %d, want 1", j.Generation)
	}
	steps := []struct {
		name    string
		write   func(j *batchv1.Job) (*batchv1.Job, error)
		wantGen int64
	}{
		{name: "label change", write: func(j *batchv1.Job) (*batchv1.Job, error) {
			j.Labels["team"] = "a"
			return jobs.Update(ctx, j, metav1.UpdateOptions{})
		}, wantGen: 1},
		{name: "status change", write: func(j *batchv1.Job) (*batchv1.Job, error) {
			j.Status.Active = 2
			return jobs.UpdateStatus(ctx, j, metav1.UpdateOptions{})
		}, wantGen: 1},
		{name: "spec change", write: func(j *batchv1.Job) (*batchv1.Job, error) {
			j.Spec.Parallelism = ptr.To[int32](3)
			return jobs.Update(ctx, j, metav1.UpdateOptions{})
		}, wantGen: 2},
		{name: "spec patch", write: func(j *batchv1.Job) (*batchv1.Job, error) {
			return jobs.Patch(ctx, j.Name, types.MergePatchType, []byte(`{"spec":{"suspend":true}}`), metav1.PatchOptions{})
		}, wantGen: 3},
	}
	for _, s := range steps {
		var err error
		if j, err = s.write(j); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if j.Generation != s.wantGen {
			t.Errorf("after %s generation = %d, want %d", s.name, j.Generation, s.wantGen)
		}
	}
}

func TestListSelectors(t *testing.T) {
	c, _ := newTestCluster(t)
	createPod(t, c, testPod("a"))
	createPod(t, c, testPod("b", func(p *corev1.Pod) { p.Labels["app"] = "other"; p.Spec.NodeName = "node-2" }))
	createPod(t, c, testPod("c", func(p *corev1.Pod) { p.Namespace = "elsewhere" }))
	tests := []struct {
		name      string
		namespace string
		opts      metav1.ListOptions
		want      []string
		wantErr   bool
	}{
		{name: "namespace", namespace: testNamespace, want: []string{"a", "b"}},
		{name: "all namespaces", namespace: "", want: []string{"a", "b", "c"}},
		{name: "label selector", namespace: testNamespace, opts: metav1.ListOptions{LabelSelector: "app=test"}, want: []string{"a"}},
		{name: "field selector", namespace: "", opts: metav1.ListOptions{FieldSelector: "spec.nodeName=node-1"}, want: []string{"a", "c"}},
		{name: "field selector on name", namespace: "", opts: metav1.ListOptions{FieldSelector: "metadata.name!=a"}, want: []string{"b", "c"}},
		{name: "unsupported field", namespace: "", opts: metav1.ListOptions{FieldSelector: "spec.hostname=x"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list, err := c.Client().CoreV1().Pods(tc.namespace).List(context.Background(), tc.opts)
			if tc.wantErr {
				if !apierrors.IsBadRequest(err) {
					t.Fatalf("err = %v, want BadRequest", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range list.Items {
				got = append(got, p.Name)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("listed %v, want %v", got, tc.want)
			}
			if list.ResourceVersion == "" {
				t.Errorf("list has no resourceVersion")
			}
		})
	}
}

func TestPodBindingAndEviction(t *testing.T) {
	c, _ := newTestCluster(t)
	ctx := context.Background()
	pods := c.Client().CoreV1().Pods(testNamespace)
	createPod(t, c, testPod("p", func(p *corev1.Pod) { p.Spec.NodeName = "" }))

	binding := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: testNamespace}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-7"}}
	if err := pods.Bind(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("Bind: %v", err)
	}
	if got := getPod(t, c, "p").Spec.NodeName; got != "node-7" {
		t.Fatalf("nodeName = %q after binding, want node-7", got)
	}
	if err := pods.Bind(ctx, binding, metav1.CreateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("binding a bound pod: err = %v, want a conflict", err)
	}

	if err := pods.EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: testNamespace}}); err != nil {
		t.Fatalf("Evict: %v", err)
	}
	p := getPod(t, c, "p")
	if p == nil || p.DeletionTimestamp == nil {
		t.Fatalf("an evicted running pod should be terminating gracefully, got %v", p)
	}
	found := false
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.DisruptionTarget && cond.Status == corev1.ConditionTrue && cond.Reason == "EvictionByEvictionAPI" {
			found = true
		}
	}
	if !found {
		t.Errorf("evicted pod has no DisruptionTarget condition: %v", p.Status.Conditions)
	}
}
