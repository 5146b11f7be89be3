package main

import (
	"context"
	"io"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/kjob-dev/kjob/sim"
)

// registerRetry spaces out attempts to register the nodes while the
// apiserver is not reachable yet.
const registerRetry = 2 * time.Second

// serve registers the nodes, keeps them alive and runs pods until ctx ends.
// It returns nil after a clean shutdown, once every process it started has
// been reaped.
func serve(ctx context.Context, client kubernetes.Interface, o options, stdout io.Writer) error {
	logger := klog.FromContext(ctx)
	kubelet := sim.NewKubelet(client, clock.RealClock{}, o.kubeletOptions(stdout))
	err := wait.PollUntilContextCancel(ctx, registerRetry, true, func(ctx context.Context) (bool, error) {
		if err := kubelet.RegisterNodes(ctx); err != nil {
			logger.Error(err, "Registering nodes failed, will retry")
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return nil // ended before the nodes were registered
	}
	logger.Info("Nodes registered", "nodes", kubelet.NodeNames(), "runtime", o.runtime, "selectedOnly", o.selectedOnly)
	if o.runtime != sim.RuntimeScripted {
		logger.Info("The exec runtime is on: pods' commands run on this host as this user", "runtime", o.runtime)
	}

	var wg sync.WaitGroup
	wg.Go(func() {
		if err := kubelet.Heartbeat(ctx, heartbeatInterval); err != nil {
			logger.Error(err, "Node heartbeats stopped")
		}
	})
	err = kubelet.Run(ctx)
	wg.Wait()
	if err == nil {
		logger.Info("Stopped")
	}
	return err
}
