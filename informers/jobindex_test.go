package informers

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func TestJobsControlledBy(t *testing.T) {
	cronRef := func(uid string, controller bool) metav1.OwnerReference {
		return metav1.OwnerReference{APIVersion: "batch/v1", Kind: "CronJob", Name: "cj", UID: k8stypes.UID("cj-" + uid), Controller: ptr.To(controller)}
	}
	job := func(name string, refs ...metav1.OwnerReference) *batchv1.Job {
		return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, OwnerReferences: refs}}
	}
	factory := NewFactory(fake.NewClientset(), 0)
	informer := factory.Batch().V1().Jobs().Informer()
	require.NoError(t, AddJobIndexers(informer))
	require.NoError(t, AddJobIndexers(informer), "a second registration on a shared informer is harmless")

	indexer := informer.GetIndexer()
	for _, j := range []*batchv1.Job{
		job("child-1", cronRef("1", true)),
		job("child-2", cronRef("1", true)),
		job("other-cronjob", cronRef("2", true)),
		job("owner-not-controller", cronRef("1", false)),
		job("no-owner"),
	} {
		require.NoError(t, indexer.Add(j))
	}

	got, err := JobsControlledBy(indexer, "cj-1")
	require.NoError(t, err)
	var names []string
	for _, j := range got {
		names = append(names, j.Name)
	}
	assert.ElementsMatch(t, []string{"child-1", "child-2"}, names)

	none, err := JobsControlledBy(indexer, "cj-unknown")
	require.NoError(t, err)
	assert.Empty(t, none)
}
