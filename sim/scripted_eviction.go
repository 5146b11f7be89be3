package sim

import (
	"time"

	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Scripted evictions: sim.kjob.dev/evict-after makes a pod get evicted once
// it has been running that long, the way a node drain or a cluster
// autoscaler scale-down evicts it. The kubelet asks the Eviction API, so
// what follows is the cluster's own doing: the API marks the pod with
// DisruptionTarget=True and deletes it gracefully, and the kubelet then
// stops its containers (SIGTERM, exit code 143 unless sigterm-delay says
// otherwise) and reports the final phase. That is the sequence a Job's pod
// failure policy has to tell apart from a crash (field report F11).
//
// The value is a list, like duration and exit-codes: the n-th pod of a Job
// (of a completion index, for Indexed Jobs) takes the n-th value, the last
// one repeats, and "never" leaves that pod alone. "30s,30s,never" evicts
// the first two pods and lets the third one finish.

// neverEvict is the parsed form of "never".
const neverEvict time.Duration = -1

func parseEvictAfter(value string) (time.Duration, error) {
	if value == "never" {
		return neverEvict, nil
	}
	return parseScriptDuration(value)
}

// scheduleEviction arms the eviction of a pod that has just started, if
// its script asks for one. Loop-only.
func (k *Kubelet) scheduleEviction(sp *simPod) {
	if len(sp.script.EvictAfter) == 0 {
		return
	}
	// The pods of one Job share a series, counted in the scripted
	// runtime's attempt table; the empty container name stands for the pod
	// itself (no container may have an empty name).
	key := attemptKey(sp.pod, "")
	n := k.scripted.attempts[key]
	k.scripted.attempts[key] = n + 1
	after := pickAttempt(sp.script.EvictAfter, n, neverEvict)
	if after < 0 {
		return
	}
	k.after(after, func() {
		if k.pods[sp.uid] != sp || sp.terminating || sp.stage != stageStarted {
			return // gone, already stopping, or finished on its own
		}
		k.evict(sp)
	})
}

// evict asks the API to evict the pod. A pod that is gone needs nothing; a
// refusal (a PodDisruptionBudget on a real cluster) is retried later, as a
// draining tool would.
func (k *Kubelet) evict(sp *simPod) {
	err := k.client.PolicyV1().Evictions(sp.namespace).Evict(sp.ctx, &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Name: sp.name, Namespace: sp.namespace},
		DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &sp.uid}},
	})
	switch {
	case err == nil:
		sp.logger().V(2).Info("Pod evicted")
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
	default:
		sp.logger().Error(err, "Evicting pod failed, will retry")
		k.after(retryDelay, func() {
			if k.pods[sp.uid] == sp && !sp.terminating {
				k.evict(sp)
			}
		})
	}
}
