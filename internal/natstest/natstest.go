// Package natstest starts a real embedded nats-server for tests, routes
// logs to the test log and holds the small helpers tests share: a buffer
// safe to read while written, polling for a condition, free ports.
package natstest

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetpool/jetpool/broker"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Env is a running server and one client connected to it.
type Env struct {
	Server *broker.Server
	Store  string
	Conn   *nats.Conn
	JS     jetstream.JetStream
	Log    *slog.Logger
}

// Start runs a JetStream server on a random port with a temporary store, and
// connects a client that reconnects forever. Both stop at the test's end.
func Start(t testing.TB) *Env {
	t.Helper()
	log := Logger(t, slog.LevelInfo)
	store := t.TempDir()
	srv, err := broker.Start(broker.Options{StoreDir: store, Logger: Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatalf("start nats-server: %v", err)
	}
	env := &Env{Server: srv, Store: store, Log: log}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := env.Server.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	env.Conn, env.JS = Connect(t, srv.ClientURL())
	return env
}

// Connect opens a client to url that reconnects forever; it is closed at the
// test's end.
func Connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// Restart shuts the server down and starts it again on the same port and
// store, as a broker restart would.
func (e *Env) Restart(t testing.TB) {
	t.Helper()
	url := e.Server.ClientURL()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.Server.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	listen := strings.TrimPrefix(url, "nats://")
	srv, err := broker.Start(broker.Options{StoreDir: e.Store, Listen: listen, Logger: Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatalf("restart nats-server: %v", err)
	}
	e.Server = srv
}

// Logger returns a logger that writes to t.Log at level and above, and
// falls silent once the test has ended.
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.close)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

var _ io.Writer = (*testWriter)(nil)

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// Eventually polls cond every few milliseconds until it holds or timeout
// passes, then fails the test with msg.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within "+timeout.String()+": "+msg, args...)
		}
		before := time.Now()
		time.Sleep(5 * time.Millisecond)
		if gap := time.Since(before); gap > time.Second {
			t.Logf("a 5ms poll took %s: the test process stalled", gap)
		}
	}
}

// Requests counts the messages published on subject (wildcards allowed)
// from now on, as a subscriber on nc sees them: how often clients asked the
// JetStream API something, for one. The count stops at the test's end.
func Requests(t testing.TB, nc *nats.Conn, subject string) func() int {
	t.Helper()
	var n atomic.Int64
	sub, err := nc.Subscribe(subject, func(*nats.Msg) { n.Add(1) })
	if err != nil {
		t.Fatalf("subscribe %s: %v", subject, err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("subscribe %s: %v", subject, err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return func() int { return int(n.Load()) }
}
