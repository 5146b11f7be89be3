// Package sim runs Kubernetes controllers without a real cluster: an
// in-memory API server built on client-go's fake clientset, a virtual clock,
// a runner that moves that clock from event to event, and a simulated
// kubelet that takes pods through their phases.
package sim

import (
	"math/rand/v2"
	"strconv"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/clock"
)

// Cluster is an in-memory API server: client-go's fake clientset plus the
// server-side behaviour the fake leaves out (see docs/simulator.md).
//
// The fake stores objects and answers Get. Cluster's reactors take over every
// other verb, in this order of responsibility:
//   - create: generateName, uid, resourceVersion, creationTimestamp,
//     generation, Job defaulting and validation, status reset;
//   - update and patch: optimistic concurrency, the status subresource,
//     generation bumps, Job immutability, no-op writes that change nothing;
//   - delete: preconditions, graceful deletion, finalizers, and garbage
//     collection of dependents with the requested propagation policy;
//   - list and watch: label and field selectors, resourceVersion, and a watch
//     that never drops or blocks and can resume from a List.
//
// Always write through Client(). Objects added to Fake().Tracker() directly
// bypass all of this: they get no resourceVersion and no watch event.
type Cluster struct {
	clock clock.PassiveClock
	fake  *fake.Clientset

	// The fields below are used only inside reactors. The fake clientset runs
	// reactors one at a time, holding its own lock for the whole reaction
	// (Fake.Invokes), so they need no lock of their own and every reaction
	// sees and leaves a consistent state.

	// resourceVersion is the last resourceVersion handed out. Every write
	// (deletions included) takes the next one, so resourceVersions increase
	// across the whole cluster, like etcd's revision.
	resourceVersion uint64
	// random makes generated names and uids; seeded, so a simulation run twice
	// names its objects the same way.
	random *rand.Rand
	// byUID finds any stored object by its uid.
	byUID map[types.UID]objectRef
	// dependents lists, for an owner's uid, the stored objects that carry an
	// ownerReference to it; the garbage collector's view of the object graph.
	dependents map[types.UID]map[objectRef]struct{}
	// kinds maps each resource the scheme knows to its kind, for building lists.
	kinds map[schema.GroupVersionResource]schema.GroupVersionKind

	// writes counts successful writes; read from outside the reactors.
	writes atomic.Uint64
	// watches fans events out to open watches; it has its own lock because
	// watches are stopped from other goroutines.
	watches *watchHub
}

// objectRef names one stored object.
type objectRef struct {
	resource  schema.GroupVersionResource
	namespace string
	name      string
}

// ClusterOption configures NewCluster.
type ClusterOption func(*Cluster)

// WithRandomSeed seeds the generator of object names and uids. Clusters with
// the same seed that see the same writes produce the same names.
func WithRandomSeed(seed uint64) ClusterOption {
	return func(c *Cluster) { c.random = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
}

// NewCluster returns an empty cluster whose timestamps come from clk.
func NewCluster(clk clock.PassiveClock, opts ...ClusterOption) *Cluster {
	c := &Cluster{
		clock:      clk,
		fake:       fake.NewSimpleClientset(),
		byUID:      map[types.UID]objectRef{},
		dependents: map[types.UID]map[objectRef]struct{}{},
		kinds:      resourceKinds(),
		watches:    newWatchHub(),
	}
	WithRandomSeed(1)(c)
	for _, opt := range opts {
		opt(c)
	}
	// Prepended, so these run before the fake's own object reactor, which is
	// left to answer Get only.
	c.fake.PrependReactor("create", "*", c.reactCreate)
	c.fake.PrependReactor("update", "*", c.reactUpdate)
	c.fake.PrependReactor("patch", "*", c.reactPatch)
	c.fake.PrependReactor("delete", "*", c.reactDelete)
	c.fake.PrependReactor("delete-collection", "*", c.reactDeleteCollection)
	c.fake.PrependReactor("list", "*", c.reactList)
	c.fake.PrependWatchReactor("*", c.reactWatch)
	return c
}

// Client is the API of the cluster, for controllers, kubelets and tests.
func (c *Cluster) Client() kubernetes.Interface { return c.fake }

// Fake is the underlying fake clientset, for tests that inspect Actions() or
// prepend their own reactors (to inject errors, say); a reactor prepended
// there runs before the cluster's own.
func (c *Cluster) Fake() *fake.Clientset { return c.fake }

// Writes returns the number of successful writes so far: creates, updates,
// patches and deletions, including those the garbage collector makes and
// events. A runner compares it over time to see the cluster settle.
func (c *Cluster) Writes() uint64 { return c.writes.Load() }

// pendingWatchEvents is the number of watch events sent but not yet taken by
// their reader (an informer's reflector, usually).
func (c *Cluster) pendingWatchEvents() int { return c.watches.backlog() }

// nextResourceVersion returns the resourceVersion the next write will carry.
func (c *Cluster) nextResourceVersion() string {
	return strconv.FormatUint(c.resourceVersion+1, 10)
}

// committed records that a write carrying the next resourceVersion succeeded.
func (c *Cluster) committed() {
	c.resourceVersion++
	c.writes.Add(1)
}
