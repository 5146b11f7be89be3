package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// Kubelet is a simulated kubelet for a set of simulated nodes. It binds
// unscheduled pods to its nodes, runs their containers with a Runtime and
// reports pod status the way a real kubelet does, through nothing but the
// Kubernetes API and a clock. The same engine runs inside jobsim (in-memory
// cluster, virtual clock) and as podsim against a real apiserver.
//
// All pod state lives on one loop goroutine (see kubelet_loop.go), which
// keeps the order of events, and so of scripted attempts and random draws,
// repeatable.
type Kubelet struct {
	client kubernetes.Interface
	clock  clock.WithTicker
	opts   KubeletOptions
	// optsErr is reported by Run: a constructor without an error result
	// must not panic on bad options.
	optsErr error

	nodes    []*simNode
	scripted *scriptedRuntime
	exec     *execRuntime
	logs     *podLogs
	// processes counts exec processes not yet reaped.
	processes sync.WaitGroup

	// mu guards the loop's inbox and timers, which other goroutines (event
	// handlers, exec waiters, Idle) touch. Everything else is loop-owned.
	mu sync.Mutex
	// queue holds work posted to the loop and not yet taken.
	queue []func()
	// deadlines holds work due at a time on k.clock.
	deadlines deadlineHeap
	// deadlineSeq orders deadlines due at the same instant by creation.
	deadlineSeq uint64
	// timer wakes the loop for deadlines[0]; timerAt is what it was armed
	// for (zero when none is armed).
	timer   clock.Timer
	timerAt time.Time
	// busy is true while the loop runs a batch of work.
	busy bool
	// holds counts attempts doing real work (Host.Hold).
	holds int
	// synced is set once Run's informer delivered its initial list.
	synced bool
	// observedVersion is the resourceVersion of the last pod event queued.
	observedVersion string

	// wake nudges the loop when work is posted; buffered, never closed.
	wake chan struct{}

	// Loop-owned state.
	pods          map[types.UID]*simPod
	nextNode      int
	nextAttemptID uint64
}

// KubeletOptions configures a Kubelet. The zero value is usable.
type KubeletOptions struct {
	// NodeNames names the simulated nodes. When empty, NodeCount nodes are
	// named sim-node-1, sim-node-2, ...
	NodeNames []string
	// NodeCount is the number of nodes when NodeNames is empty; 0 means 3.
	NodeCount int
	// DefaultRuntime runs pods that do not name a runtime in their
	// sim.kjob.dev/runtime annotation; empty means RuntimeAuto.
	DefaultRuntime RuntimeName
	// DisableExec refuses the exec runtime even to pods that ask for it in
	// their sim.kjob.dev/runtime annotation; they fail with
	// CreateContainerConfigError instead of running a command on this
	// machine. It needs DefaultRuntime RuntimeScripted.
	DisableExec bool
	// SelectedPodsOnly leaves unbound pods without a nodeSelector to
	// someone else; pods are still bound only to nodes their nodeSelector
	// matches, and pods bound to the kubelet's nodes by others still run.
	SelectedPodsOnly bool
	// Log receives every line of container output, prefixed with the pod
	// name ("simplejob-abcde | Hello"). Nil discards it; PodLog still has it.
	Log io.Writer
	// Seed seeds the random draws of sim.kjob.dev/failure-probability.
	Seed uint64
	// StartDelay is the time from accepting a pod to starting its
	// containers (pulling images, creating the sandbox). 0 means 1s; a
	// negative value means no delay.
	StartDelay time.Duration
	// RestartBackoff is the first CrashLoopBackOff delay; 0 means 10s.
	RestartBackoff time.Duration
	// MaxRestartBackoff caps the doubling delay; 0 means 300s.
	MaxRestartBackoff time.Duration
}

// Defaults of KubeletOptions and of the pod lifecycle.
const (
	defaultNodeCount         = 3
	defaultNodePrefix        = "sim-node-"
	defaultStartDelay        = time.Second
	defaultRestartBackoff    = 10 * time.Second
	defaultMaxRestartBackoff = 300 * time.Second
	// MaxNodes is the most nodes a kubelet runs: each has its own
	// 10.244.N.0/24 pod range.
	MaxNodes = 254
	// fieldManager names the kubelet's writes.
	fieldManager = "sim-kubelet"
)

// withDefaults fills the zero fields and checks the rest.
func (o KubeletOptions) withDefaults() (KubeletOptions, error) {
	var errs []error
	if len(o.NodeNames) == 0 {
		switch {
		case o.NodeCount == 0:
			o.NodeCount = defaultNodeCount
		case o.NodeCount < 0 || o.NodeCount > MaxNodes:
			errs = append(errs, fmt.Errorf("NodeCount %d: want 1 to %d", o.NodeCount, MaxNodes))
			o.NodeCount = 0
		}
		for i := 1; i <= o.NodeCount; i++ {
			o.NodeNames = append(o.NodeNames, fmt.Sprintf("%s%d", defaultNodePrefix, i))
		}
	}
	if err := ValidateNodeNames(o.NodeNames); err != nil {
		errs = append(errs, fmt.Errorf("NodeNames: %w", err))
	}
	if o.DefaultRuntime == "" {
		o.DefaultRuntime = RuntimeAuto
	}
	if err := o.DefaultRuntime.validate(); err != nil {
		errs = append(errs, fmt.Errorf("DefaultRuntime: %w", err))
	}
	if o.DisableExec && o.DefaultRuntime != RuntimeScripted {
		errs = append(errs, fmt.Errorf("DisableExec needs DefaultRuntime %s, not %s", RuntimeScripted, o.DefaultRuntime))
	}
	switch {
	case o.StartDelay == 0:
		o.StartDelay = defaultStartDelay
	case o.StartDelay < 0:
		o.StartDelay = 0
	}
	if o.RestartBackoff == 0 {
		o.RestartBackoff = defaultRestartBackoff
	}
	if o.MaxRestartBackoff == 0 {
		o.MaxRestartBackoff = defaultMaxRestartBackoff
	}
	if o.RestartBackoff < 0 || o.MaxRestartBackoff < o.RestartBackoff {
		errs = append(errs, fmt.Errorf("RestartBackoff %v, MaxRestartBackoff %v: want 0 < RestartBackoff <= MaxRestartBackoff",
			o.RestartBackoff, o.MaxRestartBackoff))
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o, errors.Join(errs...)
}

// ValidateNodeNames reports what is wrong with a list of node names: too
// many, not DNS subdomains, or repeated.
func ValidateNodeNames(names []string) error {
	var errs []error
	if len(names) > MaxNodes {
		errs = append(errs, fmt.Errorf("%d nodes, want at most %d", len(names), MaxNodes))
	}
	seen := map[string]bool{}
	for _, name := range names {
		for _, msg := range validation.IsDNS1123Subdomain(name) {
			errs = append(errs, fmt.Errorf("%q: %s", name, msg))
		}
		if seen[name] {
			errs = append(errs, fmt.Errorf("%q appears twice", name))
		}
		seen[name] = true
	}
	return errors.Join(errs...)
}

// Validate reports what is wrong with the options, if anything.
func (o KubeletOptions) Validate() error {
	_, err := o.withDefaults()
	return err
}

// NewKubelet builds a kubelet that talks to client and reads time from clk.
// Invalid options are reported by Run (see KubeletOptions.Validate).
func NewKubelet(client kubernetes.Interface, clk clock.WithTicker, opts KubeletOptions) *Kubelet {
	opts, err := opts.withDefaults()
	k := &Kubelet{
		client:   client,
		clock:    clk,
		opts:     opts,
		optsErr:  err,
		scripted: newScriptedRuntime(opts.Seed),
		logs:     newPodLogs(opts.Log),
		wake:     make(chan struct{}, 1),
		pods:     map[types.UID]*simPod{},
	}
	k.exec = &execRuntime{wall: clock.RealClock{}, processes: &k.processes}
	for i, name := range opts.NodeNames {
		k.nodes = append(k.nodes, newSimNode(name, i+1))
	}
	return k
}

// NodeNames lists the simulated nodes in binding order.
func (k *Kubelet) NodeNames() []string {
	return append([]string(nil), k.opts.NodeNames...)
}

// Run watches pods and runs those bound to the kubelet's nodes until ctx
// ends. It returns once every process it started has been reaped.
func (k *Kubelet) Run(ctx context.Context) error {
	if k.optsErr != nil {
		return fmt.Errorf("kubelet options: %w", k.optsErr)
	}
	logger := klog.FromContext(ctx).WithName("sim-kubelet")
	ctx = klog.NewContext(ctx, logger)

	factory := informers.NewSharedInformerFactory(k.client, 0)
	podInformer := factory.Core().V1().Pods().Informer()
	registration, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.onPodEvent(ctx, obj, false) },
		UpdateFunc: func(_, obj any) { k.onPodEvent(ctx, obj, false) },
		DeleteFunc: func(obj any) { k.onPodEvent(ctx, obj, true) },
	})
	if err != nil {
		return fmt.Errorf("watching pods: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()

	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		k.loop(ctx)
	}()
	if cache.WaitForCacheSync(ctx.Done(), registration.HasSynced) {
		k.mu.Lock()
		k.synced = true
		k.mu.Unlock()
		logger.V(2).Info("Kubelet running", "nodes", k.opts.NodeNames)
	}
	<-loopDone
	k.processes.Wait()
	return nil
}

// onPodEvent posts an informer event to the loop.
func (k *Kubelet) onPodEvent(ctx context.Context, obj any, deleted bool) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	work := func() { k.podChanged(ctx, pod) }
	if deleted {
		work = func() { k.podDeleted(ctx, pod) }
	}
	k.mu.Lock()
	k.queue = append(k.queue, work)
	k.observedVersion = pod.ResourceVersion
	k.mu.Unlock()
	k.nudge()
}

// ObservedPodResourceVersion is the resourceVersion of the last pod event
// the kubelet has received; work for it is done once Idle reports true.
// Watch events arrive in resourceVersion order, so a runner that knows the
// version of its last pod write can wait for the kubelet to catch up with
// it before it moves virtual time.
func (k *Kubelet) ObservedPodResourceVersion() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.observedVersion
}

// Idle reports that the kubelet has nothing to do before its next timer:
// no exec process runs, no event or status write is being handled, and no
// timer is due. A runner may then move virtual time forward. Events still
// in flight in the watch are not covered: a runner must also wait until the
// kubelet has seen the objects it cares about.
func (k *Kubelet) Idle() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.synced || k.busy || k.holds > 0 || len(k.queue) > 0 {
		return false
	}
	if len(k.deadlines) == 0 {
		return true
	}
	next := k.deadlines[0].at
	// A due deadline is work not yet taken; an unarmed timer means the
	// loop has not yet told the clock when to wake it.
	return next.After(k.clock.Now()) && k.timerAt.Equal(next)
}

// PodLog returns the output lines of the pod's containers so far, without
// the name prefix. A pod that is re-created under the same name starts a
// new log.
func (k *Kubelet) PodLog(namespace, name string) []string {
	return k.logs.lines(namespace, name)
}
