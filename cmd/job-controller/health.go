package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/klog/v2"
)

// healthCheck is one named condition of /healthz or /readyz.
type healthCheck struct {
	name  string
	check func(*http.Request) error
}

// healthHandler answers 200 "ok" when every check passes and 503 otherwise,
// with one line per check saying which failed and why. ?verbose lists every
// check on success too. GET and HEAD only.
func healthHandler(checks ...healthCheck) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var report strings.Builder
		failed := false
		for _, c := range checks {
			if err := c.check(r); err != nil {
				failed = true
				fmt.Fprintf(&report, "[-]%s failed: %v\n", c.name, err)
				continue
			}
			fmt.Fprintf(&report, "[+]%s ok\n", c.name)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		switch {
		case failed:
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, report.String())
			fmt.Fprintln(w, "check failed")
		case r.URL.Query().Has("verbose"):
			fmt.Fprint(w, report.String())
			fmt.Fprintln(w, "ok")
		default:
			fmt.Fprintln(w, "ok")
		}
	})
}

// cachesSynced is the readiness check: ready means the Job and Pod caches
// are filled. Leadership is not part of it, so a standby replica is ready
// too and a rolling update of a Deployment with several replicas can
// proceed; it takes over the moment it gets the Lease, with warm caches.
func cachesSynced(synced map[string]func() bool) healthCheck {
	return healthCheck{name: "informer-sync", check: func(*http.Request) error {
		var waiting []string
		for name, ok := range synced {
			if !ok() {
				waiting = append(waiting, name)
			}
		}
		if len(waiting) > 0 {
			slices.Sort(waiting)
			return fmt.Errorf("caches not synced yet: %s", strings.Join(waiting, ", "))
		}
		return nil
	}}
}

// ping always passes: the process serves HTTP.
var ping = healthCheck{name: "ping", check: func(*http.Request) error { return nil }}

// newMux serves the three endpoints.
func newMux(reg *prometheus.Registry, healthz, readyz []healthCheck) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.Handle("/healthz", healthHandler(healthz...))
	mux.Handle("/readyz", healthHandler(readyz...))
	return mux
}

// serve runs an HTTP server on l until ctx ends, then gives open requests a
// few seconds to finish. It returns once the server has stopped.
func serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Serve(l) }()
	klog.FromContext(ctx).Info("Serving metrics and health", "address", l.Addr().String())
	select {
	case err := <-stopped:
		return fmt.Errorf("serving on %s: %w", l.Addr(), err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if serveErr := <-stopped; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	return err
}
