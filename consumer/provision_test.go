package consumer_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/topology"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func streamNames(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l := js.StreamNames(ctx)
	var out []string
	for n := range l.Name() {
		out = append(out, n)
	}
	require.NoError(t, l.Err())
	return out
}

// countingHandler records every job ID it runs.
type countingHandler struct {
	mu   sync.Mutex
	seen map[string]int
}

func (h *countingHandler) Handle(_ context.Context, j *jetpool.Job) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen == nil {
		h.seen = map[string]int{}
	}
	h.seen[j.ID]++
	return nil
}

func (h *countingHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.seen)
}

// A pool started before provisioning creates nothing: it waits, saying what
// is missing and what to do, and runs the queue's jobs once `provision` has
// created the topology its way.
func TestPoolWaitsForProvisioning(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	asked := natstest.Requests(t, env.Conn, "$JS.API.STREAM.INFO.JETPOOL_JOBS")
	var logs natstest.Buffer
	h := &countingHandler{}
	pool, err := consumer.New(env.JS, consumer.Options{Queue: "q", Logger: slog.New(slog.NewTextHandler(&logs, nil)), Handler: h})
	require.NoError(t, err)
	started := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() { started <- pool.Start(ctx) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, pool.Stop(ctx))
	})

	natstest.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(logs.String(), `level=WARN msg="waiting for the jetpool topology: stream JETPOOL_JOBS not found; run \"jetpool provision q\" or start workers with --provision"`)
	}, "the pool says what it waits for:\n%s", logs.String())
	more := asked() + 2
	natstest.Eventually(t, 10*time.Second, func() bool { return asked() >= more }, "the pool asks for the stream again")
	assert.Empty(t, streamNames(t, env.JS), "the pool created no stream")
	select {
	case err := <-started:
		t.Fatalf("Start returned before provisioning: %v", err)
	default:
	}

	// Provisioning, its way: a stream limit and an AckWait the pool would
	// not have chosen.
	pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer pcancel()
	require.NoError(t, topology.Provision(pctx, env.JS, topology.Options{Replicas: 1, MaxMsgs: 5000, AckWait: 7 * time.Second}, "q"))
	require.NoError(t, <-started)
	assert.Equal(t, 1, strings.Count(logs.String(), "waiting for the jetpool topology"), logs.String())
	assert.Contains(t, logs.String(), `msg="jetpool topology ready"`)

	work, err := env.JS.Stream(pctx, names.WorkStream())
	require.NoError(t, err)
	assert.EqualValues(t, 5000, work.CachedInfo().Config.MaxMsgs, "the stream is provisioning's")
	cons, err := work.Consumer(pctx, "q")
	require.NoError(t, err)
	assert.Equal(t, 7*time.Second, cons.CachedInfo().Config.AckWait, "the consumer is provisioning's")

	ids := publishN(t, env.JS, "q", "b1", 20)
	natstest.Eventually(t, 10*time.Second, func() bool { return h.count() == len(ids) }, "every job ran")
}

// On streams provisioned without the queue, the pool creates its own
// consumer, with its own AckWait and the stream's replicas.
func TestPoolCreatesItsConsumerOnProvisionedStreams(t *testing.T) {
	t.Parallel()
	env := setup(t, topology.Options{})
	h := &countingHandler{}
	startPool(t, env, consumer.Options{Queue: "q", AckWait: 4 * time.Second}, h)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cons, err := env.JS.Consumer(ctx, names.WorkStream(), "q")
	require.NoError(t, err)
	assert.Equal(t, 4*time.Second, cons.CachedInfo().Config.AckWait)
	ids := publishN(t, env.JS, "q", "b1", 10)
	natstest.Eventually(t, 10*time.Second, func() bool { return h.count() == len(ids) }, "every job ran")
}

// With Provision, a pool on a fresh server creates what it needs at once.
func TestPoolWithProvisionCreatesTopology(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	h := &countingHandler{}
	startPool(t, env, consumer.Options{Queue: "q", Provision: true}, h)
	assert.ElementsMatch(t, []string{names.WorkStream(), names.DeadStream(), "KV_" + names.BatchBucket(), "KV_" + names.LeaseBucket(), "KV_" + names.WorkerBucket(), "KV_" + names.ReturnBucket()}, streamNames(t, env.JS))
	ids := publishN(t, env.JS, "q", "b1", 10)
	natstest.Eventually(t, 10*time.Second, func() bool { return h.count() == len(ids) }, "every job ran")
}

// A pool whose setup context ends before provisioning says what is missing.
func TestPoolStartGivesUpNamingWhatIsMissing(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	pool, err := consumer.New(env.JS, consumer.Options{Queue: "q", Logger: env.Log, Handler: &countingHandler{}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = pool.Start(ctx)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, jetstream.ErrStreamNotFound)
	assert.Contains(t, err.Error(), `consumer: queue q: jetpool topology not ready: stream JETPOOL_JOBS not found; run "jetpool provision q"`)
	select {
	case <-pool.Stopped():
	default:
		t.Fatal("a pool that failed to start is stopped")
	}
	require.NoError(t, pool.Stop(context.Background()))
	assert.Empty(t, streamNames(t, env.JS))
}
