package informers

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// JobsByControllerIndex is the name of the Job index whose keys are the UID
// of a Job's controller: for the CronJob controller, the Jobs a CronJob
// started. Jobs without a controller are not indexed.
//
// As with pods, the UID (not the name) is the key, so a CronJob deleted and
// re-created under the same name never sees its predecessor's Jobs.
const JobsByControllerIndex = "jobs-by-controller-uid"

// AddJobIndexers registers JobsByControllerIndex on a Job informer. Several
// controllers may share one informer, so registering it twice is not an
// error.
func AddJobIndexers(jobInformer cache.SharedIndexInformer) error {
	if _, ok := jobInformer.GetIndexer().GetIndexers()[JobsByControllerIndex]; ok {
		return nil
	}
	return jobInformer.AddIndexers(cache.Indexers{JobsByControllerIndex: jobControllerKeys})
}

func jobControllerKeys(obj interface{}) ([]string, error) {
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return nil, fmt.Errorf("expected *batchv1.Job, got %T", obj)
	}
	if ref := metav1.GetControllerOf(job); ref != nil {
		return []string{string(ref.UID)}, nil
	}
	return nil, nil
}

// JobsControlledBy returns the cached Jobs whose controller has the given
// UID. The returned Jobs belong to the cache: callers must not modify them.
func JobsControlledBy(indexer cache.Indexer, uid types.UID) ([]*batchv1.Job, error) {
	return fromIndex[*batchv1.Job](indexer, JobsByControllerIndex, string(uid))
}
