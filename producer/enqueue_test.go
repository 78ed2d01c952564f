package producer_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/broker"
	"github.com/jetpool/jetpool/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnqueueOversizePayloadNamesTheLimit(t *testing.T) {
	_, p := setup(t, broker.ProvisionOptions{MaxMsgSize: 1024}, "q")
	_, err := p.Enqueue(context.Background(), "q", make([]byte, 4096), producer.WithID("big"))
	require.Error(t, err)
	assert.ErrorIs(t, err, producer.ErrNotEnqueued)
	assert.Contains(t, err.Error(), "1024 bytes")
	assert.Contains(t, err.Error(), "big")
}

func TestEnqueueToFullStreamFails(t *testing.T) {
	env, p := setup(t, broker.ProvisionOptions{MaxMsgs: 3}, "q")
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
	env, p := setup(t, broker.ProvisionOptions{}, "q")
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

func TestEnqueueDuplicateIsReportedNotStored(t *testing.T) {
	env, p := setup(t, broker.ProvisionOptions{}, "q")
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
	_, p := setup(t, broker.ProvisionOptions{}, "q")
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

func TestBatchWithInjectedFailuresGivesExactReport(t *testing.T) {
	env, p := setup(t, broker.ProvisionOptions{MaxMsgSize: 512}, "q")
	const n = 10000
	items := make([]producer.Item, n)
	for i := range items {
		items[i].ID = fmt.Sprintf("job-%05d", i)
		items[i].Payload = []byte("small")
		if i%100 == 7 {
			items[i].Payload = make([]byte, 1000) // refused by the stream
		}
	}
	ctx := context.Background()
	b, err := p.EnqueueBatch(ctx, "q", items, producer.WithBatchID("big-batch"))
	var pe *producer.PartialError
	require.ErrorAs(t, err, &pe)
	require.Len(t, pe.Failed, 100)
	assert.Equal(t, n-100, b.Enqueued)
	for _, f := range pe.Failed {
		assert.Contains(t, f.Err.Error(), "512 bytes")
	}

	seen := &idSet{}
	startPool(t, env, consumerCfg("q", 16), func(ctx context.Context, j *jetpool.Job) error {
		seen.add(j.ID)
		return nil
	})
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	r, err := b.Wait(wctx)
	require.NoError(t, err)
	assert.Equal(t, n-100, r.Expected)
	assert.Equal(t, n-100, r.Completed)
	assert.Equal(t, 0, r.Dead)
	assert.Equal(t, 0, r.Pending)
	assert.Equal(t, n-100, seen.len())

	// Retrying the failed jobs with the same IDs completes the batch.
	retry := make([]producer.Item, 0, len(pe.Failed))
	for _, f := range pe.Failed {
		retry = append(retry, producer.Item{ID: f.ID, Payload: []byte("fixed")})
	}
	_, err = p.EnqueueBatch(ctx, "q", retry, producer.WithBatchID("big-batch"))
	require.NoError(t, err)
	r, err = p.Wait(wctx, "big-batch")
	require.NoError(t, err)
	assert.Equal(t, n, r.Expected)
	assert.Equal(t, n, r.Completed)
	assert.Equal(t, n, seen.len())
}
