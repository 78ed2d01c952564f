package producer_test

import (
	"context"
	"fmt"
	"github.com/jetpool/jetpool/topology"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/producer"
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

func numberedItems(n int) []producer.Item {
	out := make([]producer.Item, n)
	for i := range out {
		out[i] = producer.Item{ID: fmt.Sprintf("job-%d", i), Payload: []byte("x")}
	}
	return out
}

// A producer and a worker pool started before provisioning create nothing:
// they wait, saying what is missing, and the batch runs once `provision`
// has created the topology its way.
func TestProducerWaitsForProvisioning(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	asked := natstest.Requests(t, env.Conn, "$JS.API.STREAM.INFO.JETPOOL_JOBS")
	var logs natstest.Buffer
	p, err := producer.New(env.JS, producer.Options{Logger: natstest.BufferLogger(&logs)})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var seen idSet
	pool, err := consumer.New(env.JS, consumer.Options{Queue: "q", Logger: natstest.BufferLogger(&logs), Handler: jetpool.HandlerFunc(func(_ context.Context, j *jetpool.Job) error { seen.add(j.ID); return nil })})
	require.NoError(t, err)
	poolStarted := make(chan error, 1)
	go func() { poolStarted <- pool.Start(ctx) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, pool.Stop(ctx))
	})

	type result struct {
		b   *producer.Batch
		err error
	}
	enqueued := make(chan result, 1)
	go func() {
		b, err := p.EnqueueBatch(ctx, "q", numberedItems(50), producer.WithBatch("early"))
		enqueued <- result{b, err}
	}()

	natstest.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(logs.String(), `level=WARN msg="waiting for the jetpool topology: stream JETPOOL_JOBS not found; run \"jetpool provision QUEUE\""`) &&
			strings.Contains(logs.String(), `level=WARN msg="waiting for the jetpool topology: stream JETPOOL_JOBS not found; run \"jetpool provision q\" or start workers with --provision"`)
	}, "producer and pool say what they wait for:\n%s", logs.String())
	more := asked() + 4
	natstest.Eventually(t, 10*time.Second, func() bool { return asked() >= more }, "producer and pool ask for the stream again")
	assert.Empty(t, streamNames(t, env.JS), "nothing was created")
	select {
	case r := <-enqueued:
		t.Fatalf("EnqueueBatch returned before provisioning: %v", r.err)
	case err := <-poolStarted:
		t.Fatalf("Start returned before provisioning: %v", err)
	default:
	}

	pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer pcancel()
	require.NoError(t, topology.Provision(pctx, env.JS, topology.Options{Replicas: 1, MaxMsgs: 5000}, "q"))
	require.NoError(t, <-poolStarted)
	r := <-enqueued
	require.NoError(t, r.err)

	work, err := env.JS.Stream(pctx, jetpool.DefaultNames().WorkStream())
	require.NoError(t, err)
	assert.EqualValues(t, 5000, work.CachedInfo().Config.MaxMsgs, "the stream is provisioning's")

	rep, err := r.b.Wait(ctx)
	require.NoError(t, err)
	assert.True(t, rep.Done)
	assert.Equal(t, 50, rep.Expected)
	assert.Equal(t, 50, rep.Completed)
	assert.Equal(t, 50, seen.len(), "every job ran")
	for i := range 50 {
		assert.True(t, seen.has(fmt.Sprintf("job-%d", i)))
	}
}

// A producer whose call ends before provisioning says what is missing.
func TestProducerGivesUpNamingWhatIsMissing(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	p, err := producer.New(env.JS, producer.Options{Logger: env.Log})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err = p.EnqueueBatch(ctx, "q", numberedItems(3))
	require.Error(t, err)
	assert.ErrorContains(t, err, "stream JETPOOL_JOBS not found")
	assert.Empty(t, streamNames(t, env.JS))
}

// With Provision, a producer on a fresh server creates what it needs at once.
func TestProducerWithProvisionWorksAtOnce(t *testing.T) {
	env := natstest.Start(t)
	p, err := producer.New(env.JS, producer.Options{Provision: true, Logger: env.Log})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	began := time.Now()
	b, err := p.EnqueueBatch(ctx, "q", numberedItems(10))
	require.NoError(t, err)
	assert.Equal(t, 10, b.Enqueued)
	assert.Less(t, time.Since(began), 5*time.Second)
	assert.ElementsMatch(t, []string{"JETPOOL_JOBS", "JETPOOL_DEAD", "KV_jetpool_batches", "KV_jetpool_leases", "KV_jetpool_workers", "KV_jetpool_returns"}, streamNames(t, env.JS))

	var seen idSet
	startPool(t, env, consumer.Options{Queue: "q"}, func(_ context.Context, j *jetpool.Job) error { seen.add(j.ID); return nil })
	rep, err := b.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, 10, rep.Completed)
	assert.Equal(t, 10, seen.len())
}
