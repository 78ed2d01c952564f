package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool/batch"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExitCodeClassifiesErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{fmt.Errorf("reconcile: %w: b1", batch.ErrBatchNotFound), ExitFailure},
		{errors.New("bad response"), ExitFailure},
		{context.Canceled, ExitFailure}, // Main makes it ExitInterrupted when the signal ended ctx
		{exitWith(ExitDead, errors.New("dead")), ExitDead},
		{fmt.Errorf("wrapped: %w", exitWith(ExitTimeout, context.DeadlineExceeded)), ExitTimeout},
		{exitWith(ExitFailure, nats.ErrNoResponders), ExitFailure}, // explicit wins
		{fmt.Errorf("x: %w", nats.ErrNoServers), ExitUnavailable},
		{fmt.Errorf("x: %w", nats.ErrConnectionClosed), ExitUnavailable},
		{fmt.Errorf("x: %w", nats.ErrNoResponders), ExitUnavailable},
		{fmt.Errorf("x: %w", nats.ErrTimeout), ExitUnavailable},
		{fmt.Errorf("stream info: %w", context.DeadlineExceeded), ExitUnavailable},
		{jetstream.ErrNoStreamResponse, ExitUnavailable},
		{fmt.Errorf("x: %w", jetstream.ErrJetStreamNotEnabled), ExitUnavailable},
		{jetstream.ErrJetStreamNotEnabledForAccount, ExitUnavailable},
		{&jetstream.APIError{Code: 503, Description: "JetStream system temporarily unavailable"}, ExitUnavailable},
		{fmt.Errorf("x: %w", &jetstream.APIError{Code: 404, ErrorCode: jetstream.JSErrCodeStreamNotFound}), ExitFailure},
		{fmt.Errorf("queue: %w", jetpool.ErrInvalidName), ExitUsage},
		{errors.New(`unknown command "nope" for "jetpool"`), ExitUsage},
		{errors.New("accepts 1 arg(s), received 0"), ExitUsage},
	} {
		assert.Equal(t, tc.want, exitCode(tc.err), "%v", tc.err)
	}
}

// Every exit code, from the command run in process against an embedded
// broker.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	url := env.Server.ClientURL()
	ctx := context.Background()
	res := runJetpool(t, ctx, "", "--nats-url", url, "provision", "ok", "dead", "idle")
	require.Equal(t, ExitOK, res.code, res.stderr)
	startWorker(t, url, "--queue", "ok", "--builtin", "noop")
	startWorker(t, url, "--queue", "dead", "--builtin", "fail=1", "--max-attempts", "1")
	enqueue := func(t *testing.T, queue, batch, lines string) {
		t.Helper()
		res := runJetpool(t, ctx, lines, "--nats-url", url, "enqueue", queue, "-", "--batch", batch)
		require.Equal(t, ExitOK, res.code, res.stderr)
	}

	t.Run("0 every job completed", func(t *testing.T) {
		enqueue(t, "ok", "b-ok", "a\nb\n")
		res := runJetpool(t, ctx, "", "--nats-url", url, "batch", "wait", "b-ok", "--timeout", "30s")
		assert.Equal(t, ExitOK, res.code, res.stderr)
		assert.Contains(t, res.stdout, "completed 2, dead 0")
	})

	t.Run("1 batch not found", func(t *testing.T) {
		res := runJetpool(t, ctx, "", "--nats-url", url, "batch", "show", "no-such-batch")
		assert.Equal(t, ExitFailure, res.code)
		assert.Contains(t, res.stderr, "batch not found")
	})

	t.Run("2 batch wait timeout", func(t *testing.T) {
		enqueue(t, "idle", "b-idle", "a\n")
		res := runJetpool(t, ctx, "", "--nats-url", url, "batch", "wait", "b-idle", "--timeout", "1s")
		assert.Equal(t, ExitTimeout, res.code, res.stderr)
		assert.Contains(t, res.stderr, "batch b-idle not done within 1s")
		assert.Contains(t, res.stdout, "pending 1", "the report so far is printed")
	})

	t.Run("3 dead jobs", func(t *testing.T) {
		enqueue(t, "dead", "b-dead", "a\n")
		res := runJetpool(t, ctx, "", "--nats-url", url, "batch", "wait", "b-dead", "--timeout", "30s")
		assert.Equal(t, ExitDead, res.code, res.stderr)
		assert.Contains(t, res.stdout, "completed 0, dead 1")
		assert.Contains(t, res.stderr, "batch b-dead done: 1 of 1 jobs dead")
	})

	t.Run("64 usage", func(t *testing.T) {
		for _, args := range [][]string{
			{"batch", "wait", "b", "--no-such-flag"},
			{"batch", "wait"},
			{"batch", "wait", "b", "--timeout", "soon"},
			{"--log-level", "loud", "status"},
			{"--nats-url", "nats://127.0.0.1:notaport", "status"},
			{"--nats-url", url, "dlq", "ls", "bad queue"},
		} {
			res := runJetpool(t, ctx, "", args...)
			assert.Equal(t, ExitUsage, res.code, "%q: %s", args, res.stderr)
		}
	})

	t.Run("69 NATS unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		closed := "nats://" + l.Addr().String()
		require.NoError(t, l.Close())
		res := runJetpool(t, ctx, "", "--nats-url", closed, "batch", "show", "b-ok")
		assert.Equal(t, ExitUnavailable, res.code)
		assert.Contains(t, res.stderr, "cannot reach NATS at "+closed)
	})

	t.Run("69 JetStream not enabled", func(t *testing.T) {
		res := runJetpool(t, ctx, "", "--nats-url", plainNATS(t), "batch", "wait", "b-ok")
		assert.Equal(t, ExitUnavailable, res.code)
		assert.Contains(t, res.stderr, "no JetStream enabled")
	})

	t.Run("130 batch wait interrupted", func(t *testing.T) {
		enqueue(t, "idle", "b-stuck", "a\n")
		sigCtx, interrupt := context.WithCancel(ctx)
		defer interrupt()
		stderr := &natstest.Buffer{}
		done := make(chan result, 1)
		go func() { done <- runMain(sigCtx, "", stderr, "--nats-url", url, "batch", "wait", "b-stuck") }()
		natstest.Eventually(t, 30*time.Second, func() bool { return strings.Contains(stderr.String(), "batch progress") },
			"batch wait reports progress: %s", stderr)
		interrupt() // what SIGINT does to the context in cmd/jetpool
		res := <-done
		assert.Equal(t, ExitInterrupted, res.code, res.stderr)
		assert.Contains(t, res.stderr, "batch b-stuck not done: interrupted")
		assert.Contains(t, res.stdout, "pending 1", "the report so far is printed")
	})

	t.Run("130 any command interrupted", func(t *testing.T) {
		sigCtx, interrupt := context.WithCancel(ctx)
		interrupt()
		res := runJetpool(t, sigCtx, "", "--nats-url", url, "batch", "show", "b-ok")
		assert.Equal(t, ExitInterrupted, res.code)
		assert.Contains(t, res.stderr, "jetpool: interrupted")
	})
}

type result struct {
	code           int
	stdout, stderr string
}

// runJetpool runs the command in process and returns its outcome.
func runJetpool(t *testing.T, ctx context.Context, stdin string, args ...string) result {
	t.Helper()
	res := runMain(ctx, stdin, &natstest.Buffer{}, args...)
	t.Logf("jetpool %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
	return res
}

func runMain(ctx context.Context, stdin string, stderr *natstest.Buffer, args ...string) result {
	var stdout natstest.Buffer
	code := Main(ctx, args, strings.NewReader(stdin), &stdout, stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// startWorker runs `jetpool work` until the test ends.
func startWorker(t *testing.T, url string, args ...string) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() {
		done <- runMain(ctx, "", &natstest.Buffer{}, append([]string{"--nats-url", url, "work"}, args...)...)
	}()
	t.Cleanup(func() {
		stop()
		res := <-done
		assert.Equal(t, ExitOK, res.code, "a worker stopped by its context exits 0: %s", res.stderr)
	})
}

// plainNATS starts a NATS server without JetStream and returns its URL.
func plainNATS(t *testing.T) string {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	require.NoError(t, err)
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	require.True(t, s.ReadyForConnections(10*time.Second))
	return s.ClientURL()
}
