package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	v1 "k8s.io/api/core/v1"
	k8sinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	clientworkqueue "k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/kjob-dev/kjob/controller"
	"github.com/kjob-dev/kjob/controller/cronjob"
	"github.com/kjob-dev/kjob/controller/ttl"
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
	// built, when set, receives the controllers before they start.
	built func(*controllers)
	// wrapQueue, when set, wraps every work queue with the rate limiter
	// it was built with. Tests on the simulator put sim.DelayOnClock here.
	wrapQueue func(clientworkqueue.TypedRateLimitingInterface[string], clientworkqueue.TypedRateLimiter[string]) clientworkqueue.TypedRateLimitingInterface[string]
}

// controllers are the controllers run builds; those not enabled are nil.
type controllers struct {
	job     *controller.Controller
	cronJob *cronjob.Controller
	ttl     *ttl.Controller
}

// newLimiter builds a queue's rate limiter on the queue's clock.
type newLimiter func(clock.PassiveClock) clientworkqueue.TypedRateLimiter[string]

// queueFactory builds the project's queues, reporting to metrics, with the
// retry delays of limiter, wrapped as env asks.
func (env runEnv) queueFactory(limiter newLimiter, metrics workqueue.MetricsProvider) controller.QueueFactory {
	return func(name string, clk clock.WithTicker) clientworkqueue.TypedRateLimitingInterface[string] {
		rl := limiter(clk)
		q := workqueue.NewRateLimiting[string](rl, workqueue.Options{Name: name, Clock: clk,
			Implementation: workqueue.ImplementationKjob, MetricsProvider: metrics})
		if env.wrapQueue != nil {
			q = env.wrapQueue(q, rl)
		}
		return q
	}
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
	recorder, broadcaster := controller.NewEventRecorder(ctx, client, "job-controller")
	defer broadcaster.Shutdown()

	factory := informers.NewFactory(client, 0)
	ctrls, synced, err := buildControllers(ctx, o, env, client, factory, recorder, broadcaster, queueMetrics)
	if err != nil {
		return err
	}
	if env.built != nil {
		env.built(ctrls)
	}

	healthz := []healthCheck{ping}
	var elector *leaderElection
	if o.leaderElect {
		if elector, err = newLeaderElection(client, recorder, o); err != nil {
			return err
		}
		healthz = append(healthz, healthCheck{name: "leader-election", check: elector.watchdog.Check})
	}
	readyz := []healthCheck{cachesSynced(synced)}

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
		"workers", o.workers, "leaderElect", o.leaderElect, "cronJobController", o.enableCronJob,
		"ttlAfterFinishedController", o.enableTTLAfterFinished)

	var runErr error
	if elector != nil {
		runErr = elector.run(ctx, func(ctx context.Context) { ctrls.run(ctx, o) })
	} else {
		ctrls.run(ctx, o)
	}
	stopServer()
	return errors.Join(runErr, <-serverDone)
}

// buildControllers wires the Job controller, and the CronJob and TTL
// controllers when enabled, to the shared informers of factory. It returns
// them with the HasSynced of every cache they need, for /readyz.
func buildControllers(ctx context.Context, o *options, env runEnv, client kubernetes.Interface, factory k8sinformers.SharedInformerFactory,
	recorder record.EventRecorder, broadcaster record.EventBroadcaster, metrics workqueue.MetricsProvider,
) (*controllers, map[string]func() bool, error) {
	manages, err := controller.ManagedByPredicate(o.managedBy, o.manageBuiltInJobs)
	if err != nil {
		return nil, nil, fmt.Errorf("--managed-by: %w", err)
	}
	jobs, pods := factory.Batch().V1().Jobs(), factory.Core().V1().Pods()
	synced := map[string]func() bool{"jobs": jobs.Informer().HasSynced, "pods": pods.Informer().HasSynced}
	ctrls := &controllers{}
	ctrls.job, err = controller.New(ctx, controller.Config{
		Client:      client,
		JobInformer: jobs,
		PodInformer: pods,
		Clock:       env.clock,
		Recorder:    recorder,
		Manages:     manages,
		NewQueue:    env.queueFactory(func(clock.PassiveClock) clientworkqueue.TypedRateLimiter[string] { return controller.NewRateLimiter() }, metrics),
	})
	if err != nil {
		return nil, nil, err
	}
	if o.enableCronJob {
		cronManages, err := cronjob.ManagedByPredicate(o.cronJobManagedBy, o.manageUnannotatedCronJobs)
		if err != nil {
			return nil, nil, fmt.Errorf("--cronjob-managed-by: %w", err)
		}
		cronJobs := factory.Batch().V1().CronJobs()
		synced["cronjobs"] = cronJobs.Informer().HasSynced
		ctrls.cronJob, err = cronjob.New(ctx, cronjob.Config{
			Client:          client,
			CronJobInformer: cronJobs,
			JobInformer:     jobs,
			Clock:           env.clock,
			// The shared broadcaster, signed as the built-in controller
			// signs its Events.
			Recorder: broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: cronjob.ControllerName}),
			NewQueue: env.queueFactory(cronjob.NewRateLimiter, metrics),
			Manages:  cronManages,
		})
		if err != nil {
			return nil, nil, err
		}
	}
	if o.enableTTLAfterFinished {
		ctrls.ttl, err = ttl.New(ctx, ttl.Config{
			Client:      client,
			JobInformer: jobs,
			Clock:       env.clock,
			NewQueue:    env.queueFactory(workqueue.DefaultControllerRateLimiterWithClock[string], metrics),
		})
		if err != nil {
			return nil, nil, err
		}
	}
	return ctrls, synced, nil
}

// run runs every controller until ctx ends and returns once all of their
// Run calls have returned, so a caller holding the Lease may release it.
func (c *controllers) run(ctx context.Context, o *options) {
	logger := klog.FromContext(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { c.job.Run(ctx, o.workers) })
	if c.cronJob != nil {
		wg.Go(func() { c.cronJob.Run(klog.NewContext(ctx, logger.WithName("cronjob")), o.cronJobWorkers) })
	}
	if c.ttl != nil {
		wg.Go(func() { c.ttl.Run(klog.NewContext(ctx, logger.WithName("ttl")), o.ttlWorkers) })
	}
	wg.Wait()
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
