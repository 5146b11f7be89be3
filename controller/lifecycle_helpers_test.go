package controller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// Helpers shared by the tables of the Job lifecycle features: deadline,
// suspend, pod failure policy and pod replacement policy.

// syncOutcome is what one sync did, as the lifecycle tables check it.
type syncOutcome struct {
	counts actionCounts
	// status is the last status written; nil when the sync wrote none.
	status *batchv1.JobStatus
	events []string
	// timers are the requeues longer than the pod-event batching period.
	timers []time.Duration
	log    []string
}

// syncOnce runs one sync of job with pods in the caches and returns what it
// did. setup, when set, prepares the controller's memory first.
func syncOnce(t *testing.T, job *batchv1.Job, pods []*v1.Pod, setup func(*fixture)) syncOutcome {
	t.Helper()
	objects := []runtime.Object{job}
	for _, p := range pods {
		objects = append(objects, p)
	}
	f := newFixture(t, objects...)
	if setup != nil {
		setup(f)
	}
	f.client.ClearActions()
	require.NoError(t, f.sync(job))
	return syncOutcome{
		counts: f.counts(),
		status: f.lastStatus(),
		events: f.events(),
		timers: f.queue.delaysOver(keyOf(job), SyncBatchPeriod),
		log:    f.actionLog(),
	}
}

// timeAgo is a timestamp d before testNow.
func timeAgo(d time.Duration) *metav1.Time {
	return ptr.To(metav1.NewTime(testNow.Add(-d)))
}

// exited gives a pod a terminated container with the exit code, finished
// at testNow, and phase Failed.
func exited(container string, code int32) func(*v1.Pod) *v1.Pod {
	return exitedIn(func(st *v1.PodStatus) *[]v1.ContainerStatus { return &st.ContainerStatuses }, container, code)
}

// initExited is exited for an init container.
func initExited(container string, code int32) func(*v1.Pod) *v1.Pod {
	return exitedIn(func(st *v1.PodStatus) *[]v1.ContainerStatus { return &st.InitContainerStatuses }, container, code)
}

func exitedIn(statuses func(*v1.PodStatus) *[]v1.ContainerStatus, container string, code int32) func(*v1.Pod) *v1.Pod {
	return func(p *v1.Pod) *v1.Pod {
		list := statuses(&p.Status)
		*list = append(*list, v1.ContainerStatus{
			Name: container,
			State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{
				ExitCode: code, FinishedAt: metav1.NewTime(testNow),
			}},
		})
		p.Status.Phase = v1.PodFailed
		return p
	}
}

// withCondition adds a pod condition, e.g. DisruptionTarget=True.
func withCondition(t v1.PodConditionType, status v1.ConditionStatus) func(*v1.Pod) *v1.Pod {
	return func(p *v1.Pod) *v1.Pod {
		p.Status.Conditions = append(p.Status.Conditions, v1.PodCondition{Type: t, Status: status})
		return p
	}
}

// pod builds one pod of job in phase with the mutations applied.
func pod(job *batchv1.Job, name string, phase v1.PodPhase, mutate ...func(*v1.Pod) *v1.Pod) *v1.Pod {
	p := podOf(job, name, phase)
	for _, m := range mutate {
		p = m(p)
	}
	return p
}

// withPolicy gives a Job a pod failure policy, as the API stores it.
func withPolicy(job *batchv1.Job, rules ...batchv1.PodFailurePolicyRule) *batchv1.Job {
	job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: rules}
	job.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
	return job
}

func onExitCodes(action batchv1.PodFailurePolicyAction, op batchv1.PodFailurePolicyOnExitCodesOperator, codes ...int32) batchv1.PodFailurePolicyRule {
	return batchv1.PodFailurePolicyRule{Action: action, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: op, Values: codes}}
}

func onCondition(action batchv1.PodFailurePolicyAction, t v1.PodConditionType) batchv1.PodFailurePolicyRule {
	return batchv1.PodFailurePolicyRule{Action: action, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: t, Status: v1.ConditionTrue}}}
}
