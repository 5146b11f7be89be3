package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Labels and annotations of Job pods that the scripted runtime uses to count
// attempts across the pods of one Job.
const (
	labelControllerUID       = "batch.kubernetes.io/controller-uid"
	labelLegacyControllerUID = "controller-uid"
	labelJobName             = "batch.kubernetes.io/job-name"
	labelLegacyJobName       = "job-name"
	labelCompletionIndex     = "batch.kubernetes.io/job-completion-index"
)

// scriptedRuntime plays the outcomes a pod's annotations describe. Nothing
// runs: an attempt is a timer on the kubelet's clock, so a scripted hour
// takes no real time.
//
// It is used only from the kubelet loop (see Runtime), which is what makes
// its attempt numbering and random draws repeatable for a given seed.
type scriptedRuntime struct {
	// rng draws failure-probability outcomes; seeded from KubeletOptions.Seed.
	rng *rand.Rand
	// attempts counts the attempts started so far per attemptKey, so that
	// exit-codes "1,0" means "the first attempt of this Job fails" even when
	// that attempt and the next run in different pods.
	attempts map[string]int
}

func newScriptedRuntime(seed uint64) *scriptedRuntime {
	return &scriptedRuntime{
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		attempts: map[string]int{},
	}
}

func (r *scriptedRuntime) Start(_ context.Context, a Attempt, host Host) (Container, error) {
	key := attemptKey(a.Pod, a.Container.Name)
	attempt := r.attempts[key]
	r.attempts[key] = attempt + 1

	name, index := a.Container.Name, completionIndex(a.Pod)
	exit := ExitStatus{ExitCode: a.Script.exitCode(name, index, attempt)}
	if p := a.Script.FailureProbability; p > 0 && r.rng.Float64() < p && exit.ExitCode == 0 {
		exit.ExitCode = a.Script.FailureExitCode
		exit.Message = fmt.Sprintf("failed by %s%s=%v", AnnotationPrefix, annotationFailureProbability, p)
	}
	c := &scriptedContainer{host: host, sigtermDelay: a.Script.SigtermDelay}
	c.cancelRun = host.After(a.Script.duration(name, index, attempt), func() { c.exit(exit) })
	return c, nil
}

// scriptedContainer is one scripted attempt. Loop-only, like its runtime.
type scriptedContainer struct {
	host         Host
	sigtermDelay time.Duration
	// cancelRun cancels the natural end of the attempt once it is stopped.
	cancelRun func()
	// stopping is set by the first Stop; exited once Exited was reported.
	stopping, exited bool
}

func (c *scriptedContainer) exit(s ExitStatus) {
	if c.exited {
		return
	}
	c.exited = true
	c.host.Exited(s)
}

// Stop models a process that needs sigtermDelay to exit after SIGTERM: it
// exits with 143 if that fits in the grace period, else it is killed with
// 137 when the grace period ends.
func (c *scriptedContainer) Stop(grace time.Duration) {
	if c.stopping || c.exited {
		return
	}
	c.stopping = true
	c.cancelRun()
	if c.sigtermDelay < grace {
		c.host.After(c.sigtermDelay, func() { c.exit(ExitStatus{ExitCode: exitCodeSIGTERM}) })
		return
	}
	c.host.After(grace, func() { c.exit(ExitStatus{ExitCode: exitCodeSIGKILL}) })
}

// attemptKey names the series of attempts a container's start belongs to:
// one series per Job (per completion index for Indexed Jobs) and container
// name. Pods outside any Job count on their own.
func attemptKey(pod *corev1.Pod, container string) string {
	owner := "pod:" + string(pod.UID)
	switch {
	case pod.Labels[labelControllerUID] != "":
		owner = "job-uid:" + pod.Labels[labelControllerUID]
	case pod.Labels[labelLegacyControllerUID] != "":
		owner = "job-uid:" + pod.Labels[labelLegacyControllerUID]
	case controllerUID(pod) != "":
		owner = "owner-uid:" + controllerUID(pod)
	case pod.Labels[labelJobName] != "":
		owner = "job:" + pod.Labels[labelJobName]
	case pod.Labels[labelLegacyJobName] != "":
		owner = "job:" + pod.Labels[labelLegacyJobName]
	}
	key := pod.Namespace + "/" + owner
	if index := completionIndex(pod); index >= 0 {
		key += "/index:" + strconv.Itoa(index)
	}
	return key + "/container:" + container
}

func controllerUID(pod *corev1.Pod) string {
	for _, ref := range pod.OwnerReferences {
		if ref.Controller != nil && *ref.Controller {
			return string(ref.UID)
		}
	}
	return ""
}

// completionIndex is the pod's Indexed-Job completion index, or -1. The
// label is preferred; the annotation of the same name is its older form.
func completionIndex(pod *corev1.Pod) int {
	value, ok := pod.Labels[labelCompletionIndex]
	if !ok {
		value, ok = pod.Annotations[labelCompletionIndex]
	}
	if !ok {
		return -1
	}
	index, err := parseCompletionIndex(value)
	if err != nil {
		return -1
	}
	return index
}
