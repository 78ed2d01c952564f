package jetpooltest

import (
	"context"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/topology"
	"github.com/nats-io/nats.go/jetstream"
)

// callTimeout bounds each call this package makes to JetStream.
const callTimeout = 10 * time.Second

// StartBroker starts an embedded JetStream server for the test, on a free
// port with a temporary store, provisions queues on it, and returns a
// client connected to it. The server's log goes to the test log; the
// client and the server stop when the test ends.
func StartBroker(tb testing.TB, queues ...string) jetstream.JetStream {
	tb.Helper()
	env := natstest.Start(tb)
	Provision(tb, env.JS, queues...)
	return env.JS
}

// Provision creates jetpool's streams and buckets, when missing, and a
// consumer for each queue, with one replica and the default settings.
func Provision(tb testing.TB, js jetstream.JetStream, queues ...string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if err := topology.Provision(ctx, js, topology.Options{}, queues...); err != nil {
		tb.Fatalf("jetpooltest: provision queues %q: %v", queues, err)
	}
}
