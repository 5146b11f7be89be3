package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	clienttesting "k8s.io/client-go/testing"
)

// defaultMaxPods is --max-pods' default: far more pods than any example
// needs, far fewer than exhaust a machine's memory. A pod costs about half
// a megabyte of the in-memory cluster (objects, watch events, the
// informers' caches), so 2,000 pods take about 1 GB and a few seconds.
const defaultMaxPods = 2000

// podLimit is the safety limit of --max-pods. A Job with parallelism
// 2147483647 would otherwise have the controller create pods until the
// machine runs out of memory: past the limit every pod creation is refused
// and the run stops.
type podLimit struct {
	max     int64 // 0: no limit
	created atomic.Int64
	once    sync.Once
	hit     chan struct{} // closed at the first refused creation
}

func newPodLimit(limit int) *podLimit {
	return &podLimit{max: int64(limit), hit: make(chan struct{})}
}

// react is a reactor for pod creations (not for subresources such as
// pods/binding or pods/eviction) that lets the first max pass.
func (l *podLimit) react(action clienttesting.Action) (bool, runtime.Object, error) {
	if l.max == 0 || action.GetSubresource() != "" || l.created.Add(1) <= l.max {
		return false, nil, nil
	}
	l.once.Do(func() { close(l.hit) })
	return true, nil, apierrors.NewForbidden(v1.Resource("pods"), "", fmt.Errorf("jobsim --max-pods %d reached", l.max))
}

// bind returns a context for a runner that ends with ctx or as soon as the
// limit is hit, so the run stops there.
func (l *podLimit) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-l.hit:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// err reports a hit limit as the reason the run stopped.
func (l *podLimit) err() error {
	select {
	case <-l.hit:
		return fmt.Errorf("stopped after %d pods were created: --max-pods %d reached (raise it, or 0 for no limit)", l.max, l.max)
	default:
		return nil
	}
}
