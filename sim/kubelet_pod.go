package sim

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// The pod lifecycle, driven by events on the kubelet loop:
//
//	accept ──start delay──▶ start containers ──exit──▶ restart? ──backoff──▶ start again
//	   │                          │                        │ no
//	   │                          │                        ▼
//	   │                          │                  all exited: Succeeded / Failed
//	   └──────────────────────────┴── deletionTimestamp ──▶ stop containers ──▶ terminal phase ──▶ delete (grace 0)
//
// docs/simulator.md describes the kubelet and its runtimes around it.

// podStage is where a pod is in that lifecycle.
type podStage int

const (
	// stageWaiting: accepted, containers not started yet (phase Pending).
	stageWaiting podStage = iota
	// stageStarted: containers started; each runs, waits to restart or
	// has exited for good (phase Running).
	stageStarted
	// stageFinished: terminal phase reached; nothing runs any more.
	stageFinished
)

// Timing of the kubelet's own retries and of CrashLoopBackOff resets.
const (
	// retryDelay spaces out retries of failed API calls.
	retryDelay = time.Second
	// defaultGracePeriod is the API default of terminationGracePeriodSeconds.
	defaultGracePeriod = 30 * time.Second
)

// simPod is the kubelet's record of one pod it runs. Loop-owned.
type simPod struct {
	// ctx is Run's context, for API calls and logging made for this pod.
	ctx       context.Context
	uid       types.UID
	namespace string
	name      string
	// pod is the latest version the informer delivered. Never modified.
	pod *corev1.Pod
	// node is nil only for a pod deleted before it was ever bound.
	node *simNode
	// script and runtime are set once the pod's configuration was accepted.
	script  *Script
	runtime Runtime

	stage podStage
	// phase is the terminal phase once stage is stageFinished.
	phase corev1.PodPhase
	// reason and message explain a pod-level failure (status.reason).
	reason, message string
	podIP           string
	startTime       metav1.Time
	containers      []*simContainer
	// conditions remembers what each kubelet-owned condition last said
	// and since when, so transition times only move on a change.
	conditions map[corev1.PodConditionType]*podCondition

	// ownsStatus is false for pods found already finished: their status
	// was written before and is left alone.
	ownsStatus bool
	// written is the last status written, to skip identical writes.
	written *corev1.PodStatus
	// cancelStart cancels the pending start; nil once started.
	cancelStart func()
	// terminating is set once the deletionTimestamp was seen.
	terminating bool
	// deleted is set once the final delete succeeded.
	deleted bool
	// retryScheduled is set while a retry of sync is pending.
	retryScheduled bool
}

// simContainer is the kubelet's record of one container of a pod.
type simContainer struct {
	spec *corev1.Container
	log  podLogSink
	// state and lastState are reported as-is in the container status.
	state, lastState corev1.ContainerState
	restartCount     int32
	containerID      string
	// running is the current attempt; nil when none runs.
	running Container
	// attemptID identifies the current attempt, so a late exit report of
	// an earlier attempt is ignored.
	attemptID uint64
	// backoff is the delay before the last restart; 0 before the first.
	backoff time.Duration
	// cancelRestart cancels a pending restart; nil when none is pending.
	cancelRestart func()
}

func (sp *simPod) logger() klog.Logger {
	logger := klog.FromContext(sp.ctx).WithValues("pod", klog.KRef(sp.namespace, sp.name))
	if job := sp.pod.Labels[labelJobName]; job != "" {
		logger = logger.WithValues("job", klog.KRef(sp.namespace, job))
	}
	if index := completionIndex(sp.pod); index >= 0 {
		logger = logger.WithValues("index", index)
	}
	return logger
}

func (k *Kubelet) now() metav1.Time { return metav1.NewTime(k.clock.Now()) }

func isTerminal(phase corev1.PodPhase) bool {
	return phase == corev1.PodSucceeded || phase == corev1.PodFailed
}

// podChanged handles an added or updated pod.
func (k *Kubelet) podChanged(ctx context.Context, pod *corev1.Pod) {
	sp := k.pods[pod.UID]
	if sp == nil {
		if sp = k.accept(ctx, pod); sp == nil {
			return
		}
	} else {
		sp.pod = pod
	}
	if pod.DeletionTimestamp != nil {
		k.terminate(sp)
	}
}

// accept takes a pod on: binds it when unscheduled, checks its
// configuration, reports it Pending and schedules its start. It returns
// nil for pods that belong to other nodes, select none of the kubelet's
// (see kubelet_scheduling.go) or cannot be taken on now.
func (k *Kubelet) accept(ctx context.Context, pod *corev1.Pod) *simPod {
	var node *simNode
	switch {
	case pod.Spec.NodeName != "":
		if node = k.nodeNamed(pod.Spec.NodeName); node == nil {
			return nil
		}
	case isTerminal(pod.Status.Phase), !k.wantsPod(pod):
		return nil
	case pod.DeletionTimestamp == nil:
		node = k.nodeForBinding(pod)
		if err := k.bind(ctx, pod, node); err != nil {
			k.bindFailed(ctx, pod, err)
			return nil
		}
		// An unbound pod that is already being deleted never reaches a
		// node; it is still taken on, so that it ends Failed (see terminate).
	}

	sp := &simPod{
		ctx:        ctx,
		uid:        pod.UID,
		namespace:  pod.Namespace,
		name:       pod.Name,
		pod:        pod,
		node:       node,
		conditions: map[corev1.PodConditionType]*podCondition{},
		ownsStatus: true,
		startTime:  k.now(),
	}
	k.pods[pod.UID] = sp
	k.logs.reset(pod.Namespace, pod.Name)
	for i := range pod.Spec.Containers {
		spec := &pod.Spec.Containers[i]
		sp.containers = append(sp.containers, &simContainer{
			spec:  spec,
			log:   k.logs.sink(pod.Namespace, pod.Name, spec.Name, len(pod.Spec.Containers)),
			state: waitingState(reasonContainerCreating, ""),
		})
	}
	logger := sp.logger()

	switch {
	case isTerminal(pod.Status.Phase):
		sp.stage, sp.phase, sp.ownsStatus = stageFinished, pod.Status.Phase, false
		return sp
	case pod.Status.Phase == corev1.PodRunning:
		// Running on this node, but not started by this kubelet: whatever
		// ran it is gone, and so are its containers.
		logger.Info("Pod was running before this kubelet started, marking it failed")
		if pod.Status.StartTime != nil {
			sp.startTime = *pod.Status.StartTime
		}
		sp.reason, sp.message = reasonContainersLost, "the simulated kubelet restarted and lost the pod's containers"
		k.finishStopped(sp)
		return sp
	}

	script, err := ParseScript(pod.Annotations)
	if err == nil {
		sp.script = script
		sp.runtime, err = k.runtimeFor(pod, script)
	}
	if err != nil {
		logger.Info("Pod cannot start", "err", err)
		k.failConfig(sp, err)
		return sp
	}
	if pod.DeletionTimestamp != nil {
		return sp // podChanged terminates it right away
	}
	delay := k.opts.StartDelay
	if script.HasStartDelay {
		delay = script.StartDelay
	}
	sp.cancelStart = k.after(delay, func() {
		sp.cancelStart = nil
		k.startPod(sp)
	})
	logger.V(2).Info("Pod accepted", "node", node.name, "startDelay", delay)
	k.sync(sp)
	return sp
}

// bindFailed retries a failed binding later, unless the pod is gone or
// was bound by someone else (its next update brings the node name).
func (k *Kubelet) bindFailed(ctx context.Context, pod *corev1.Pod, err error) {
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return
	}
	klog.FromContext(ctx).Error(err, "Binding pod failed, will retry", "pod", klog.KObj(pod))
	k.after(retryDelay, func() {
		if k.pods[pod.UID] == nil {
			k.podChanged(ctx, pod)
		}
	})
}

// runtimeFor picks the pod's runtime: its own sim.kjob.dev/runtime, else
// the kubelet default, where RuntimeAuto means scripted for annotated pods.
func (k *Kubelet) runtimeFor(pod *corev1.Pod, script *Script) (Runtime, error) {
	name := script.Runtime
	if name == "" {
		name = k.opts.DefaultRuntime
	}
	if name == RuntimeAuto {
		name = RuntimeExec
		if script.Annotated {
			name = RuntimeScripted
		}
	}
	if name == RuntimeScripted {
		return k.scripted, nil
	}
	if k.opts.DisableExec {
		return nil, fmt.Errorf("%s%s=%s: this kubelet does not run commands on its host (its exec runtime is disabled)",
			AnnotationPrefix, annotationRuntime, RuntimeExec)
	}
	if err := checkExecConfig(pod); err != nil {
		return nil, err
	}
	return k.exec, nil
}

// failConfig ends a pod whose configuration cannot run: a real kubelet
// would keep it Pending and retry, the simulator fails it at once so that a
// typo in an annotation shows up as a failed pod with the reason attached.
func (k *Kubelet) failConfig(sp *simPod, err error) {
	sp.stage, sp.phase = stageFinished, corev1.PodFailed
	sp.reason, sp.message = reasonConfigError, err.Error()
	for _, c := range sp.containers {
		c.state = waitingState(reasonConfigError, err.Error())
	}
	k.sync(sp)
}

// startPod starts every container once the start delay has passed.
func (k *Kubelet) startPod(sp *simPod) {
	if k.pods[sp.uid] != sp || sp.stage != stageWaiting || sp.terminating {
		return
	}
	sp.stage = stageStarted
	if sp.node != nil {
		sp.podIP = sp.node.allocatePodIP()
	}
	for i := range sp.containers {
		k.startContainer(sp, i)
	}
	k.scheduleEviction(sp) // scripted_eviction.go
	sp.logger().V(2).Info("Pod started", "podIP", sp.podIP)
	k.settle(sp)
	k.sync(sp)
}

// startContainer starts one attempt of container i. A runtime that cannot
// start it yields an attempt that ended at once with exit code 128.
func (k *Kubelet) startContainer(sp *simPod, i int) {
	c := sp.containers[i]
	k.nextAttemptID++
	c.attemptID = k.nextAttemptID
	c.containerID = fmt.Sprintf("sim://%s/%s/%d", sp.uid, c.spec.Name, c.restartCount)
	host := &attemptHost{k: k, ctx: sp.ctx, pod: sp, container: i, id: c.attemptID, log: c.log}
	attempt := Attempt{Pod: sp.viewForContainers(), Container: c.spec, RestartCount: c.restartCount, Script: sp.script}
	running, err := sp.runtime.Start(sp.ctx, attempt, host)
	if err != nil {
		sp.logger().Info("Container could not start", "container", c.spec.Name, "err", err)
		c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: exitCodeStartError, Reason: reasonStartError, Message: err.Error(),
			FinishedAt: k.now(), ContainerID: c.containerID,
		}}
		k.restartIfDue(sp, i)
		return
	}
	c.running = running
	c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: k.now()}}
}

// viewForContainers is the pod as its containers see it: bound, with
// addresses, even before the informer delivers those changes.
func (sp *simPod) viewForContainers() *corev1.Pod {
	view := sp.pod.DeepCopy()
	if sp.node != nil {
		view.Spec.NodeName = sp.node.name
		view.Status.HostIP = sp.node.hostIP
		view.Status.HostIPs = []corev1.HostIP{{IP: sp.node.hostIP}}
	}
	if sp.podIP != "" {
		view.Status.PodIP = sp.podIP
		view.Status.PodIPs = []corev1.PodIP{{IP: sp.podIP}}
	}
	return view
}

// containerExited records the end of attempt id of container i.
func (k *Kubelet) containerExited(ctx context.Context, sp *simPod, i int, id uint64, status ExitStatus) {
	c := sp.containers[i]
	if k.pods[sp.uid] != sp || c.attemptID != id || c.running == nil {
		return // the pod is gone, or this attempt was already accounted for
	}
	c.running = nil
	var startedAt metav1.Time
	if c.state.Running != nil {
		startedAt = c.state.Running.StartedAt
	}
	c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: status.ExitCode, Reason: status.terminatedReason(), Message: status.Message,
		StartedAt: startedAt, FinishedAt: k.now(), ContainerID: c.containerID,
	}}
	klog.FromContext(ctx).V(2).Info("Container exited", "pod", klog.KRef(sp.namespace, sp.name),
		"container", c.spec.Name, "exitCode", status.ExitCode, "restartCount", c.restartCount)
	if sp.terminating {
		k.finishStopped(sp)
		return
	}
	k.restartIfDue(sp, i)
	k.settle(sp)
	k.sync(sp)
}

// restartIfDue applies the restart policy to container i, which has just
// terminated: under OnFailure (after a failure) or Always it restarts in
// place after the CrashLoopBackOff delay, which doubles from
// RestartBackoff up to MaxRestartBackoff and starts over once a container
// ran for twice the maximum without failing.
func (k *Kubelet) restartIfDue(sp *simPod, i int) {
	c := sp.containers[i]
	ended := c.state.Terminated
	switch sp.pod.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return
	case corev1.RestartPolicyOnFailure:
		if ended.ExitCode == 0 {
			return
		}
	}
	if !ended.StartedAt.IsZero() && ended.FinishedAt.Sub(ended.StartedAt.Time) >= 2*k.opts.MaxRestartBackoff {
		c.backoff = 0
	}
	if c.backoff == 0 {
		c.backoff = k.opts.RestartBackoff
	} else {
		c.backoff = min(2*c.backoff, k.opts.MaxRestartBackoff)
	}
	c.lastState = c.state
	c.restartCount++
	c.state = waitingState(reasonCrashLoopBackOff, fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)",
		c.backoff, c.spec.Name, sp.name, sp.namespace, sp.uid))
	c.cancelRestart = k.after(c.backoff, func() {
		c.cancelRestart = nil
		if k.pods[sp.uid] != sp || sp.terminating {
			return
		}
		k.startContainer(sp, i)
		k.settle(sp)
		k.sync(sp)
	})
}

// settle moves a started pod to its terminal phase once every container
// has exited for good.
func (k *Kubelet) settle(sp *simPod) {
	if sp.stage != stageStarted {
		return
	}
	for _, c := range sp.containers {
		if c.state.Terminated == nil {
			return // running, or waiting to restart
		}
	}
	sp.stage, sp.phase = stageFinished, exitPhase(sp.containers)
	sp.logger().V(2).Info("Pod finished", "phase", sp.phase)
}

// exitPhase is Succeeded when every container exited 0, else Failed.
func exitPhase(containers []*simContainer) corev1.PodPhase {
	for _, c := range containers {
		if c.state.Terminated == nil || c.state.Terminated.ExitCode != 0 {
			return corev1.PodFailed
		}
	}
	return corev1.PodSucceeded
}

// terminate stops a pod that got a deletionTimestamp: pending starts and
// restarts are cancelled and running containers get the grace period.
func (k *Kubelet) terminate(sp *simPod) {
	if sp.terminating {
		return
	}
	sp.terminating = true
	if sp.cancelStart != nil {
		sp.cancelStart()
		sp.cancelStart = nil
	}
	grace := gracePeriod(sp.pod)
	sp.logger().V(2).Info("Stopping pod", "gracePeriod", grace)
	for _, c := range sp.containers {
		if c.cancelRestart != nil {
			c.cancelRestart()
			c.cancelRestart = nil
		}
		if c.running != nil {
			c.running.Stop(grace)
		}
	}
	k.finishStopped(sp)
}

// finishStopped gives a pod whose containers have all stopped its terminal
// status, and deletes it for good if it is being deleted. A container that
// waited to restart reports its last run; one that never ran reports
// exit code 137 with reason ContainerStatusUnknown, as a real kubelet does
// for containers it cannot account for.
func (k *Kubelet) finishStopped(sp *simPod) {
	for _, c := range sp.containers {
		if c.running != nil {
			return
		}
	}
	if sp.stage != stageFinished {
		for _, c := range sp.containers {
			switch {
			case c.state.Terminated != nil:
			case c.lastState.Terminated != nil:
				c.state, c.lastState = c.lastState, corev1.ContainerState{}
			default:
				c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: exitCodeSIGKILL, Reason: reasonStatusUnknown,
					Message:    "The container could not be located when the pod was terminated",
					FinishedAt: k.now(),
				}}
			}
		}
		sp.stage, sp.phase = stageFinished, exitPhase(sp.containers)
	}
	k.sync(sp)
}

// gracePeriod is the time between SIGTERM and SIGKILL for a deleted pod:
// the deletion's own grace period, else the pod's, else the API default.
func gracePeriod(pod *corev1.Pod) time.Duration {
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return defaultGracePeriod
}

// podDeleted forgets a pod that left the API. Whatever still runs is
// killed at once: the pod was removed without waiting for this kubelet.
func (k *Kubelet) podDeleted(ctx context.Context, pod *corev1.Pod) {
	sp := k.pods[pod.UID]
	if sp == nil {
		return
	}
	delete(k.pods, pod.UID)
	if sp.cancelStart != nil {
		sp.cancelStart()
	}
	for _, c := range sp.containers {
		if c.cancelRestart != nil {
			c.cancelRestart()
		}
		if c.running != nil {
			c.running.Stop(0)
		}
	}
	klog.FromContext(ctx).V(2).Info("Pod removed", "pod", klog.KObj(pod))
}

func waitingState(reason, message string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}
}
