package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func get(t *testing.T, h http.Handler, target string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec.Code, rec.Body.String()
}

func TestHealthHandler(t *testing.T) {
	failing := healthCheck{name: "leader-election", check: func(*http.Request) error { return errors.New("lease expired 30s ago") }}

	code, body := get(t, healthHandler(ping), "/healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)

	code, body = get(t, healthHandler(ping), "/healthz?verbose")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "[+]ping ok\nok\n", body)

	code, body = get(t, healthHandler(ping, failing), "/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "[+]ping ok\n[-]leader-election failed: lease expired 30s ago\ncheck failed\n", body)

	rec := httptest.NewRecorder()
	healthHandler(ping).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/healthz", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
}

// TestReadyzFollowsCacheSync: not ready until both caches have synced;
// nothing about leadership.
func TestReadyzFollowsCacheSync(t *testing.T) {
	var jobsSynced, podsSynced atomic.Bool
	readyz := healthHandler(cachesSynced(map[string]func() bool{"jobs": jobsSynced.Load, "pods": podsSynced.Load}))

	code, body := get(t, readyz, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "caches not synced yet: jobs, pods")

	jobsSynced.Store(true)
	_, body = get(t, readyz, "/readyz")
	assert.Contains(t, body, "caches not synced yet: pods")

	podsSynced.Store(true)
	code, _ = get(t, readyz, "/readyz")
	assert.Equal(t, http.StatusOK, code)
}

func TestMuxRoutes(t *testing.T) {
	mux := newMux(prometheus.NewRegistry(), []healthCheck{ping}, []healthCheck{{name: "never", check: func(*http.Request) error { return errors.New("no") }}})
	code, _ := get(t, mux, "/healthz")
	assert.Equal(t, http.StatusOK, code)
	code, _ = get(t, mux, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	code, _ = get(t, mux, "/metrics")
	assert.Equal(t, http.StatusOK, code)
	code, _ = get(t, mux, "/other")
	assert.Equal(t, http.StatusNotFound, code)
}

func TestServeStopsWithContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, l, healthHandler(ping)) }()

	resp, err := http.Get("http://" + l.Addr().String() + "/healthz")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "ok\n", string(body))

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	_, err = http.Get("http://" + l.Addr().String() + "/healthz")
	assert.Error(t, err, "the port is closed")
}
