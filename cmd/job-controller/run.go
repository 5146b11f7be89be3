package main

import (
	"context"
	"errors"
	"fmt"
	"net"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/kjob-dev/kjob/controller"
	"github.com/kjob-dev/kjob/informers"
	"github.com/kjob-dev/kjob/workqueue"
)

// userAgent names this controller in the API server's logs and audit.
const userAgent = "kjob-job-controller"

// runEnv is what run takes from outside besides the flags. The zero value
// is the real thing: a client from --kubeconfig, the real clock and a
// listener on --bind-address. Tests put the simulator's cluster here.
type runEnv struct {
	client   kubernetes.Interface
	clock    clock.WithTicker
	listener net.Listener
	// built, when set, receives the controller before it starts.
	built func(*controller.Controller)
}

// run is the whole controller manager: it returns nil after ctx ends and
// everything has stopped in order (workers, then the Lease, then the HTTP
// server), or the error that ended it early.
func run(ctx context.Context, o *options, env runEnv) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	logger := klog.FromContext(ctx)

	client := env.client
	if client == nil {
		cfg, err := restConfig(o)
		if err != nil {
			return err
		}
		if client, err = kubernetes.NewForConfig(cfg); err != nil {
			return fmt.Errorf("building the API client: %w", err)
		}
	}
	listener := env.listener
	if listener == nil && o.bindAddress != "" {
		l, err := net.Listen("tcp", o.bindAddress)
		if err != nil {
			return fmt.Errorf("--bind-address: %w", err)
		}
		listener = l
	}
	if listener != nil {
		defer listener.Close()
	}

	reg, queueMetrics, err := newRegistry()
	if err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	manages, err := controller.ManagedByPredicate(o.managedBy, o.manageBuiltInJobs)
	if err != nil {
		return fmt.Errorf("--managed-by: %w", err)
	}

	recorder, broadcaster := controller.NewEventRecorder(ctx, client, "job-controller")
	defer broadcaster.Shutdown()

	factory := informers.NewFactory(client, 0)
	jobs, pods := factory.Batch().V1().Jobs(), factory.Core().V1().Pods()
	ctrl, err := controller.New(ctx, controller.Config{
		Client:      client,
		JobInformer: jobs,
		PodInformer: pods,
		Clock:       env.clock,
		Recorder:    recorder,
		Manages:     manages,
		NewQueue:    controller.NewQueueFactoryWithMetrics(workqueue.ImplementationKjob, queueMetrics),
	})
	if err != nil {
		return err
	}
	if env.built != nil {
		env.built(ctrl)
	}

	healthz := []healthCheck{ping}
	var elector *leaderElection
	if o.leaderElect {
		if elector, err = newLeaderElection(client, recorder, o); err != nil {
			return err
		}
		healthz = append(healthz, healthCheck{name: "leader-election", check: elector.watchdog.Check})
	}
	readyz := []healthCheck{cachesSynced(map[string]func() bool{
		"jobs": jobs.Informer().HasSynced,
		"pods": pods.Informer().HasSynced,
	})}

	// The server outlives the controller, so probes keep answering while it
	// drains; it stops last.
	serverCtx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServer()
	serverDone := make(chan error, 1)
	if listener != nil {
		go func() {
			err := serve(serverCtx, listener, newMux(reg, healthz, readyz))
			if err != nil {
				cancel(err)
			}
			serverDone <- err
		}()
	} else {
		serverDone <- nil
	}

	// Every replica fills its caches, leader or not: readiness means synced
	// caches, and a standby that takes over starts warm.
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	logger.Info("Job controller starting", "managedBy", o.managedBy, "manageBuiltInJobs", o.manageBuiltInJobs,
		"workers", o.workers, "leaderElect", o.leaderElect)

	var runErr error
	if elector != nil {
		runErr = elector.run(ctx, func(ctx context.Context) { ctrl.Run(ctx, o.workers) })
	} else {
		ctrl.Run(ctx, o.workers)
	}
	stopServer()
	return errors.Join(runErr, <-serverDone)
}

// restConfig loads --kubeconfig, or the pod's in-cluster configuration when
// it is empty, and applies the client rate limits.
func restConfig(o *options) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if o.kubeconfig == "" {
		if cfg, err = rest.InClusterConfig(); err != nil {
			return nil, fmt.Errorf("no --kubeconfig given and no in-cluster configuration: %w", err)
		}
	} else if cfg, err = clientcmd.BuildConfigFromFlags("", o.kubeconfig); err != nil {
		return nil, fmt.Errorf("--kubeconfig %s: %w", o.kubeconfig, err)
	}
	cfg.QPS = float32(o.qps)
	cfg.Burst = o.burst
	return rest.AddUserAgent(cfg, userAgent), nil
}
