package sim

import (
	"context"
	"fmt"
	goruntime "runtime"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"
)

// simNode is one simulated node. Node n (from 1) has host IP 172.18.0.(n+1)
// and hands out pod IPs from 10.244.n.0/24, like a small kind cluster.
type simNode struct {
	name    string
	ordinal int
	hostIP  string
	podCIDR string
	// nextPodIP counts the pod IPs handed out; loop-owned.
	nextPodIP int
}

func newSimNode(name string, ordinal int) *simNode {
	return &simNode{
		name:    name,
		ordinal: ordinal,
		hostIP:  fmt.Sprintf("172.18.0.%d", ordinal+1),
		podCIDR: fmt.Sprintf("10.244.%d.0/24", ordinal),
	}
}

// allocatePodIP returns the node's next pod IP. Addresses cycle through
// .2 to .254; a node never runs anywhere near 253 pods at once, so a
// reused address belongs to a pod that is long gone.
func (n *simNode) allocatePodIP() string {
	host := 2 + n.nextPodIP%253
	n.nextPodIP++
	return fmt.Sprintf("10.244.%d.%d", n.ordinal, host)
}

// labels are the node's labels: the well-known ones a kubelet sets, and
// sim.kjob.dev/node, which a pod's nodeSelector can name to ask for any
// simulated node.
func (n *simNode) labels() labels.Set {
	return labels.Set{
		corev1.LabelHostname:      n.name,
		corev1.LabelOSStable:      goruntime.GOOS,
		corev1.LabelArchStable:    goruntime.GOARCH,
		AnnotationPrefix + "node": "true",
	}
}

func (k *Kubelet) nodeNamed(name string) *simNode {
	for _, n := range k.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// bind assigns the pod to node through the pods/binding subresource, the
// way a scheduler does. A client that accepts bindings without acting on
// them (the plain fake clientset) gets spec.nodeName written directly.
func (k *Kubelet) bind(ctx context.Context, pod *corev1.Pod, node *simNode) error {
	pods := k.client.CoreV1().Pods(pod.Namespace)
	binding := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node.name},
	}
	if err := pods.Bind(ctx, binding, metav1.CreateOptions{FieldManager: fieldManager}); err != nil {
		return err
	}
	current, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if current.UID != pod.UID || current.Spec.NodeName != "" {
		return nil
	}
	klog.FromContext(ctx).V(4).Info("Binding had no effect, setting spec.nodeName", "pod", klog.KObj(pod), "node", node.name)
	current.Spec.NodeName = node.name
	_, err = pods.Update(ctx, current, metav1.UpdateOptions{FieldManager: fieldManager})
	return err
}

// RegisterNodes creates a Ready Node object for every simulated node, or
// marks an existing one Ready. A real apiserver needs them before pods can
// be bound there; the in-memory cluster does not, but they make `get
// nodes` look right.
func (k *Kubelet) RegisterNodes(ctx context.Context) error {
	if k.optsErr != nil {
		return fmt.Errorf("kubelet options: %w", k.optsErr)
	}
	for _, n := range k.nodes {
		if err := k.registerNode(ctx, n); err != nil {
			return err
		}
		klog.FromContext(ctx).V(2).Info("Registered node", "node", n.name)
	}
	return nil
}

// registerNode creates the Node object of n, or reports an existing one
// Ready with a fresh status.
func (k *Kubelet) registerNode(ctx context.Context, n *simNode) error {
	nodes := k.client.CoreV1().Nodes()
	want := k.nodeObject(n)
	current, err := nodes.Create(ctx, want, metav1.CreateOptions{FieldManager: fieldManager})
	if apierrors.IsAlreadyExists(err) {
		current, err = nodes.Get(ctx, n.name, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("registering node %s: %w", n.name, err)
	}
	// Create may drop the status (a real apiserver does), so it is
	// always written through the status subresource.
	current.Status = want.Status
	if _, err := nodes.UpdateStatus(ctx, current, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("reporting status of node %s: %w", n.name, err)
	}
	return nil
}

// nodeObject describes a node with room for plenty of pods.
func (k *Kubelet) nodeObject(n *simNode) *corev1.Node {
	now := metav1.NewTime(k.clock.Now())
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("8"),
		corev1.ResourceMemory: resource.MustParse("32Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	condition := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, message string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: message,
			LastHeartbeatTime: now, LastTransitionTime: now}
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: n.labels()},
		Spec:       corev1.NodeSpec{PodCIDR: n.podCIDR, PodCIDRs: []string{n.podCIDR}},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity,
			Conditions: []corev1.NodeCondition{
				condition(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
				condition(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
				condition(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
				condition(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "simulated kubelet is posting ready status"),
			},
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: n.hostIP},
				{Type: corev1.NodeHostName, Address: n.name},
			},
			NodeInfo: corev1.NodeSystemInfo{
				OperatingSystem:         goruntime.GOOS,
				Architecture:            goruntime.GOARCH,
				KubeletVersion:          "v1.37.2-sim",
				ContainerRuntimeVersion: "sim://1",
			},
		},
	}
}
