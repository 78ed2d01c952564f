package producer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/producer"
	"github.com/jetpool/jetpool/topology"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnqueueOversizePayloadNamesTheLimit(t *testing.T) {
	t.Parallel()
	_, p := setup(t, topology.Options{MaxMsgSize: 1024}, "q")
	_, err := p.Enqueue(context.Background(), "q", make([]byte, 4096), producer.WithID("big"))
	require.Error(t, err)
	assert.ErrorIs(t, err, producer.ErrNotEnqueued)
	assert.Contains(t, err.Error(), "1024 bytes")
	assert.Contains(t, err.Error(), "big")
}

func TestEnqueueToFullStreamFails(t *testing.T) {
	t.Parallel()
	env, p := setup(t, topology.Options{MaxMsgs: 3}, "q")
	for i := range 3 {
		_, err := p.Enqueue(context.Background(), "q", []byte("x"), producer.WithID("j"+string(rune('0'+i))))
		require.NoError(t, err)
	}
	_, err := p.Enqueue(context.Background(), "q", []byte("x"), producer.WithID("overflow"))
	require.Error(t, err)
	assert.ErrorIs(t, err, producer.ErrNotEnqueued)
	assert.Contains(t, err.Error(), "overflow")
	s, err := env.JS.Stream(context.Background(), jetpool.DefaultNames().WorkStream())
	require.NoError(t, err)
	assert.Equal(t, uint64(3), s.CachedInfo().State.Msgs, "the stream kept its jobs and refused the new one")
}

func TestEnqueueWithServerDownErrsWithinDeadline(t *testing.T) {
	env, p := setup(t, topology.Options{}, "q")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, env.Server.Shutdown(ctx))
	start := time.Now()
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	_, err := p.Enqueue(ctx2, "q", []byte("x"), producer.WithID("lost"))
	require.Error(t, err)
	assert.ErrorIs(t, err, producer.ErrNotEnqueued)
	assert.Less(t, time.Since(start), 3*time.Second)
	env.Restart(t) // for the cleanup's shutdown
}

func TestEnqueueWithoutDeadlineStopsAtTheProducersTimeout(t *testing.T) {
	env, _ := setup(t, topology.Options{}, "q")
	p, err := producer.New(env.JS, producer.Options{Logger: env.Log, Timeout: 600 * time.Millisecond, AckTimeout: 100 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, env.Server.Shutdown(ctx))
	start := time.Now()
	_, err = p.Enqueue(context.Background(), "q", []byte("x"), producer.WithID("lost"))
	elapsed := time.Since(start)
	require.Error(t, err)
	assert.ErrorIs(t, err, producer.ErrNotEnqueued)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "ended by the producer's Timeout")
	assert.GreaterOrEqual(t, elapsed, 500*time.Millisecond, "attempts go on until the Timeout, not just one AckTimeout")
	assert.Less(t, elapsed, 5*time.Second)
	env.Restart(t) // for the cleanup's shutdown
}

func TestEnqueueDuplicateIsReportedNotStored(t *testing.T) {
	t.Parallel()
	env, p := setup(t, topology.Options{}, "q")
	id, err := p.Enqueue(context.Background(), "q", []byte("a"), producer.WithID("once"))
	require.NoError(t, err)
	assert.Equal(t, "once", id)
	_, err = p.Enqueue(context.Background(), "q", []byte("a"), producer.WithID("once"))
	assert.ErrorIs(t, err, producer.ErrDuplicate)
	s, err := env.JS.Stream(context.Background(), jetpool.DefaultNames().WorkStream())
	require.NoError(t, err)
	assert.Equal(t, uint64(1), s.CachedInfo().State.Msgs)
}

func TestEnqueueRefusesInvalidNames(t *testing.T) {
	t.Parallel()
	_, p := setup(t, topology.Options{}, "q")
	_, err := p.Enqueue(context.Background(), "bad.queue", nil)
	assert.ErrorContains(t, err, `"bad.queue"`)
	_, err = p.Enqueue(context.Background(), "q", nil, producer.WithID("a b"))
	assert.ErrorContains(t, err, `"a b"`)
	_, err = p.EnqueueBatch(context.Background(), "q", []producer.Item{{ID: "ok"}, {ID: "x>"}})
	assert.ErrorContains(t, err, `"x>"`)
	assert.True(t, errors.Is(err, jetpool.ErrInvalidName))
	_, err = p.EnqueueBatch(context.Background(), "q", []producer.Item{{ID: "same"}, {ID: "same"}})
	assert.ErrorContains(t, err, `"same"`)
}

func TestBatchWithAnOversizeJobPublishesNothing(t *testing.T) {
	t.Parallel()
	env, p := setup(t, topology.Options{MaxMsgSize: 512}, "q")
	in := items("j", 100)
	in[42].Payload = make([]byte, 1000)
	_, err := p.EnqueueBatch(context.Background(), "q", in, producer.WithBatch("b"))
	require.ErrorIs(t, err, producer.ErrNotEnqueued)
	var tl *producer.TooLargeError
	require.ErrorAs(t, err, &tl)
	assert.Equal(t, []int{42}, tl.Items)
	assert.ErrorContains(t, err, "j-42")
	assert.ErrorContains(t, err, "512 bytes")
	s, err := env.JS.Stream(context.Background(), jetpool.DefaultNames().WorkStream())
	require.NoError(t, err)
	assert.Zero(t, s.CachedInfo().State.Msgs, "nothing of the batch was published")
}
