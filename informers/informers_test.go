package informers

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

func jobRef(name string, uid types.UID) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "batch/v1", Kind: "Job", Name: name, UID: uid, Controller: ptr.To(true)}
}

func podWith(name string, refs ...metav1.OwnerReference) *v1.Pod {
	return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, OwnerReferences: refs}}
}

func TestJobControllerOf(t *testing.T) {
	notController := jobRef("j", "u1")
	notController.Controller = nil
	replicaSet := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "u2", Controller: ptr.To(true)}
	oldAPI := jobRef("j", "u3")
	oldAPI.APIVersion = "batch/v2alpha1"
	cases := []struct {
		name    string
		pod     *v1.Pod
		wantKey string
		wantOK  bool
	}{
		{name: "controlled by a Job", pod: podWith("p", jobRef("j", "u1")), wantKey: "ns/j", wantOK: true},
		{name: "no owner is an orphan", pod: podWith("p")},
		{name: "owner that is not the controller", pod: podWith("p", notController)},
		{name: "controlled by another kind", pod: podWith("p", replicaSet)},
		{name: "controlled by another API version", pod: podWith("p", oldAPI)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key, ok := JobKeyForPod(tc.pod)
			assert.Equal(t, tc.wantOK, ok)
			assert.Equal(t, tc.wantKey, key)
		})
	}
}

func TestPodFromEvent(t *testing.T) {
	pod := podWith("p")
	cases := []struct {
		name   string
		obj    interface{}
		wantOK bool
	}{
		{name: "plain pod", obj: pod, wantOK: true},
		{name: "tombstone wrapping a pod", obj: cache.DeletedFinalStateUnknown{Key: "ns/p", Obj: pod}, wantOK: true},
		{name: "tombstone wrapping something else", obj: cache.DeletedFinalStateUnknown{Key: "ns/p", Obj: "junk"}},
		{name: "not a pod", obj: &v1.Node{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := PodFromEvent(tc.obj)
			assert.Equal(t, tc.wantOK, ok)
			if tc.wantOK {
				assert.Same(t, pod, got)
			}
		})
	}
}

func TestDropManagedFields(t *testing.T) {
	pod := podWith("p")
	pod.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	out, err := DropManagedFields(pod)
	require.NoError(t, err)
	assert.Nil(t, out.(*v1.Pod).ManagedFields)

	tomb := cache.DeletedFinalStateUnknown{Key: "k"}
	out, err = DropManagedFields(tomb)
	require.NoError(t, err)
	assert.Equal(t, tomb, out, "values that are not objects pass through unchanged")
}

// TestPodIndexThroughInformer runs the index on a real informer fed by a fake
// clientset, so the index function, the transform and the lookups are checked
// together the way the controller uses them.
func TestPodIndexThroughInformer(t *testing.T) {
	owned := podWith("owned", jobRef("j", "uid-1"))
	owned.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "x"}}
	orphan := podWith("orphan")
	otherNS := podWith("elsewhere")
	otherNS.Namespace = "other"
	client := fake.NewClientset(owned, orphan, otherNS)

	factory := NewFactory(client, 0)
	podInformer := factory.Core().V1().Pods().Informer()
	require.NoError(t, AddPodIndexers(podInformer))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	factory.Start(ctx.Done())
	require.True(t, cache.WaitForCacheSync(ctx.Done(), podInformer.HasSynced))

	got, err := PodsControlledBy(podInformer.GetIndexer(), "uid-1")
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "owned", got[0].Name)
	assert.Nil(t, got[0].ManagedFields, "the factory's transform drops managedFields")

	orphans, err := OrphanPods(podInformer.GetIndexer(), "ns")
	require.NoError(t, err)
	require.Len(t, orphans, 1)
	assert.Equal(t, "orphan", orphans[0].Name)

	none, err := PodsControlledBy(podInformer.GetIndexer(), "uid-unknown")
	require.NoError(t, err)
	assert.Empty(t, none)
}
