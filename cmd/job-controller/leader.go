package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
)

// errLeadershipLost: the Lease could not be renewed in time. The process
// exits non-zero so that it restarts with fresh state as a standby; another
// replica may already be acting on the Jobs.
var errLeadershipLost = errors.New("leader election lost")

// watchdogTolerance is how long past the lease duration a leader that has
// not renewed still passes /healthz (kube-controller-manager's number).
const watchdogTolerance = 20 * time.Second

// leaderElection runs work only while this process holds the Lease.
type leaderElection struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	opts     *options
	identity string
	// watchdog fails /healthz when the leader stopped renewing without
	// noticing; it is wired up by run.
	watchdog *leaderelection.HealthzAdaptor
}

func newLeaderElection(client kubernetes.Interface, recorder record.EventRecorder, o *options) (*leaderElection, error) {
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("leader election identity: %w", err)
	}
	return &leaderElection{
		client:   client,
		recorder: recorder,
		opts:     o,
		// The random part keeps two processes on one host (or a restarted
		// container) from mistaking each other's lease for their own.
		identity: host + "_" + string(uuid.NewUUID()),
		watchdog: leaderelection.NewLeaderHealthzAdaptor(watchdogTolerance),
	}, nil
}

// run campaigns for the Lease until ctx ends, runs work while leading, and
// returns nil after a requested stop or errLeadershipLost.
//
// The order of a stop matters: ctx ends, work returns (the controller has
// finished its syncs in progress), and only then is the Lease given up
// (ReleaseOnCancel), so a successor never overlaps with our last writes.
// For that the elector gets its own context, ended after work returns.
func (l *leaderElection) run(ctx context.Context, work func(context.Context)) error {
	logger := klog.FromContext(ctx)
	electCtx, stopElecting := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElecting()

	var (
		mu       sync.Mutex
		stopping bool // ctx ended, or the elector returned
		leading  bool // work was started
		workDone = make(chan struct{})
	)
	onStarted := func(leaderCtx context.Context) {
		mu.Lock()
		if stopping {
			mu.Unlock()
			return
		}
		leading = true
		mu.Unlock()
		defer close(workDone)
		// Work stops when leadership is lost or when we are told to stop.
		workCtx, cancel := context.WithCancel(leaderCtx)
		defer cancel()
		defer context.AfterFunc(ctx, cancel)()
		logger.Info("Started leading", "lease", klog.KRef(l.opts.leaseNamespace, l.opts.leaseName), "identity", l.identity)
		work(workCtx)
		stopElecting() // now the Lease may go
	}
	defer context.AfterFunc(ctx, func() {
		mu.Lock()
		stopping = true
		started := leading
		mu.Unlock()
		if !started {
			stopElecting() // not leading: just stop campaigning
		}
	})()

	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: l.opts.leaseNamespace, Name: l.opts.leaseName},
		Client:     l.client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: l.identity, EventRecorder: l.recorder},
	}
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		Name:            l.opts.leaseName,
		LeaseDuration:   l.opts.leaseDuration,
		RenewDeadline:   l.opts.renewDeadline,
		RetryPeriod:     l.opts.retryPeriod,
		ReleaseOnCancel: true,
		WatchDog:        l.watchdog,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: onStarted,
			OnStoppedLeading: func() { logger.Info("Stopped leading", "identity", l.identity) },
			OnNewLeader: func(identity string) {
				if identity != l.identity {
					logger.Info("Another replica leads", "leader", identity)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	l.watchdog.SetLeaderElection(elector)
	elector.Run(electCtx)

	// A callback the elector started just before it returned must not
	// begin work now.
	mu.Lock()
	stopping = true
	started := leading
	mu.Unlock()
	if started {
		<-workDone
	}
	if ctx.Err() != nil {
		return nil
	}
	return errLeadershipLost
}
