package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetpool/jetpool/topology"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// With OTEL_EXPORTER_OTLP_ENDPOINT set, work runs each job in a span and
// exports it over OTLP/HTTP; without it, no span is made (the middleware
// is left out, so jobs pay nothing for tracing).
func TestWorkExportsSpansOnlyWhenOTELAsks(t *testing.T) {
	var posts atomic.Int64
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" {
			posts.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()

	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{}, "q"))
	url := env.Server.ClientURL()
	run := func(batch string) {
		t.Helper()
		w := runInBackground(t, "--nats-url", url, "work", "--queue", "q", "--builtin", "noop")
		code, out := runStdin(t, "a\nb\n", "--nats-url", url, "enqueue", "q", "-", "--batch", batch)
		require.Equal(t, ExitOK, code, out)
		code, out = runStdin(t, "", "--nats-url", url, "batch", "wait", batch, "--timeout", "30s")
		require.Equal(t, ExitOK, code, out)
		w.stop() // flushes the exporter
		require.Equal(t, ExitOK, w.wait(t, 30*time.Second), w.stderr.String())
	}

	run("untraced")
	assert.Zero(t, posts.Load(), "no OTEL_* configured: nothing exported")

	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	run("traced")
	assert.Positive(t, posts.Load(), "spans exported to the collector")
}
