package sim

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// podCondition is what the kubelet last reported for one condition type.
type podCondition struct {
	status          corev1.ConditionStatus
	reason, message string
	since           metav1.Time
}

// kubeletConditions are the pod conditions the kubelet owns, in the order
// a real kubelet lists them. Conditions of other types (DisruptionTarget,
// readiness gates) are kept as the API has them.
func kubeletConditions() []corev1.PodConditionType {
	return []corev1.PodConditionType{
		corev1.PodReadyToStartContainers,
		corev1.PodInitialized,
		corev1.PodReady,
		corev1.ContainersReady,
		corev1.PodScheduled,
	}
}

// currentPhase is the phase to report now.
func (sp *simPod) currentPhase() corev1.PodPhase {
	switch sp.stage {
	case stageWaiting:
		return corev1.PodPending
	case stageStarted:
		return corev1.PodRunning
	}
	return sp.phase
}

// buildStatus computes the status the kubelet reports for sp. It records
// condition transitions, so call it once per sync.
func (k *Kubelet) buildStatus(sp *simPod) corev1.PodStatus {
	now := k.now()
	phase := sp.currentPhase()
	var unready []string
	for _, c := range sp.containers {
		if c.state.Running == nil {
			unready = append(unready, c.spec.Name)
		}
	}

	set := func(t corev1.PodConditionType, ok bool, reason, message string) {
		status := corev1.ConditionFalse
		if ok {
			status, reason, message = corev1.ConditionTrue, "", ""
		}
		c := sp.conditions[t]
		if c == nil || c.status != status {
			c = &podCondition{since: now}
			sp.conditions[t] = c
		}
		c.status, c.reason, c.message = status, reason, message
	}
	readyReason, readyMessage := reasonContainersNotReady, fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	if isTerminal(phase) {
		readyReason, readyMessage = reasonPodCompleted, ""
	}
	ready := sp.stage == stageStarted && len(unready) == 0
	set(corev1.PodReadyToStartContainers, sp.stage == stageStarted, "", "")
	set(corev1.PodInitialized, true, "", "")
	set(corev1.PodReady, ready, readyReason, readyMessage)
	set(corev1.ContainersReady, ready, readyReason, readyMessage)
	set(corev1.PodScheduled, true, "", "")

	status := corev1.PodStatus{
		Phase:     phase,
		Reason:    sp.reason,
		Message:   sp.message,
		StartTime: ptr.To(sp.startTime),
	}
	for _, t := range kubeletConditions() {
		c := sp.conditions[t]
		status.Conditions = append(status.Conditions, corev1.PodCondition{
			Type: t, Status: c.status, Reason: c.reason, Message: c.message, LastTransitionTime: c.since,
		})
	}
	if sp.node != nil {
		status.HostIP = sp.node.hostIP
		status.HostIPs = []corev1.HostIP{{IP: sp.node.hostIP}}
	}
	if sp.podIP != "" {
		status.PodIP = sp.podIP
		status.PodIPs = []corev1.PodIP{{IP: sp.podIP}}
	}
	for _, c := range sp.containers {
		running := c.state.Running != nil
		cs := corev1.ContainerStatus{
			Name:                 c.spec.Name,
			Image:                c.spec.Image,
			ContainerID:          c.containerID,
			State:                c.state,
			LastTerminationState: c.lastState,
			Ready:                running,
			Started:              ptr.To(running),
			RestartCount:         c.restartCount,
		}
		if c.containerID != "" {
			cs.ImageID = "sim-image://" + c.spec.Image
		}
		status.ContainerStatuses = append(status.ContainerStatuses, cs)
	}
	return *status.DeepCopy() // no sharing with the kubelet's records
}

// applyStatus writes the kubelet-owned parts of want into the API's
// status, keeping what others own there.
func applyStatus(current *corev1.PodStatus, want corev1.PodStatus) {
	owned := map[corev1.PodConditionType]bool{}
	for _, t := range kubeletConditions() {
		owned[t] = true
	}
	conditions := append([]corev1.PodCondition(nil), want.Conditions...)
	for _, c := range current.Conditions {
		if !owned[c.Type] {
			conditions = append(conditions, c)
		}
	}
	current.Phase = want.Phase
	current.Conditions = conditions
	current.Reason, current.Message = want.Reason, want.Message
	current.HostIP, current.HostIPs = want.HostIP, want.HostIPs
	current.PodIP, current.PodIPs = want.PodIP, want.PodIPs
	current.StartTime = want.StartTime
	current.ContainerStatuses = want.ContainerStatuses
}

// sync brings the API in line with the kubelet's record of sp: it writes
// the status if it changed and, for a terminated pod being deleted, deletes
// it with grace period 0 (the API keeps it while finalizers remain). A
// failed call is retried later.
func (k *Kubelet) sync(sp *simPod) {
	if k.pods[sp.uid] != sp {
		return
	}
	err := k.writeStatus(sp)
	if err == nil && sp.stage == stageFinished && sp.terminating && !sp.deleted {
		err = k.deleteFinally(sp)
	}
	if err == nil || sp.retryScheduled {
		return
	}
	sp.logger().Error(err, "Syncing pod with the API failed, will retry")
	sp.retryScheduled = true
	k.after(retryDelay, func() {
		sp.retryScheduled = false
		k.sync(sp)
	})
}

// writeStatus writes sp's status through the status subresource. It reads
// the pod first, so that fields others own survive even on a client that
// replaces whole objects.
func (k *Kubelet) writeStatus(sp *simPod) error {
	if !sp.ownsStatus {
		return nil
	}
	want := k.buildStatus(sp)
	if sp.written != nil && apiequality.Semantic.DeepEqual(*sp.written, want) {
		return nil
	}
	pods := k.client.CoreV1().Pods(sp.namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		current, err := pods.Get(sp.ctx, sp.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if current.UID != sp.uid {
			return nil // a new pod took the name; this one is gone
		}
		applyStatus(&current.Status, want)
		_, err = pods.UpdateStatus(sp.ctx, current, metav1.UpdateOptions{FieldManager: fieldManager})
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if sp.written == nil || sp.written.Phase != want.Phase {
		sp.logger().V(2).Info("Pod phase", "phase", want.Phase)
	}
	sp.written = &want
	return nil
}

// deleteFinally removes a terminated pod, as a kubelet does once its
// containers are stopped and its final status is recorded.
func (k *Kubelet) deleteFinally(sp *simPod) error {
	err := k.client.CoreV1().Pods(sp.namespace).Delete(sp.ctx, sp.name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &sp.uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return err
	}
	sp.deleted = true
	sp.logger().V(2).Info("Pod deleted")
	return nil
}
