package cli

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetpool/jetpool/broker"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A worker started before its server keeps waiting while the address
// accepts connections and closes them at once (a server still starting,
// or a proxy in front of one), then connects when the server is up.
func TestWorkWaitsThroughConnectionsClosedBeforeTheServerIsUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	var accepted atomic.Int64
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close() // EOF before any INFO
		}
	}()
	w := runInBackground(t, "--nats-url", "nats://"+addr, "work", "--queue", "q", "--builtin", "noop", "--provision")
	natstest.Eventually(t, 20*time.Second, func() bool { return accepted.Load() >= 2 }, "the worker tries again after an EOF")
	select {
	case code := <-w.done:
		t.Fatalf("the worker exited %d on a connection closed before the server's INFO: %s", code, w.stderr.String())
	default:
	}
	l.Close()
	<-closed

	srv, err := broker.Start(broker.Options{StoreDir: t.TempDir(), Listen: addr, Logger: natstest.Logger(t, slog.LevelWarn)})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	natstest.Eventually(t, 30*time.Second, func() bool { return strings.Contains(w.stderr.String(), "worker pool started") }, "the worker connects once the server is up")
	code, out := runStdin(t, "x\n", "--nats-url", "nats://"+addr, "enqueue", "q", "-", "--batch", "late")
	require.Equal(t, ExitOK, code, out)
	code, out = runStdin(t, "", "--nats-url", "nats://"+addr, "batch", "wait", "late", "--timeout", "30s")
	assert.Equal(t, ExitOK, code, "the worker ran the job: %s\n%s", out, w.stderr.String())
	w.stop()
	assert.Equal(t, ExitOK, w.wait(t, 30*time.Second), w.stderr.String())
}
