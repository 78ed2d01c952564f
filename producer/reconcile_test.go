package producer_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/batch"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/producer"
	"github.com/jetpool/jetpool/topology"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func consumerCfg(q string, c int) consumer.Options { return consumer.Options{Queue: q, Concurrency: c} }

func items(prefix string, n int) []producer.Item {
	out := make([]producer.Item, n)
	for i := range out {
		out[i] = producer.Item{ID: fmt.Sprintf("%s-%d", prefix, i), Payload: []byte(strconv.Itoa(i))}
	}
	return out
}

// The join must not report done while stage 2 still has work: run many
// batches through a two-stage pipeline and check, when Wait returns, that
// every stage-2 job had already finished.
func TestWaitSeesEveryPipelineStage(t *testing.T) {
	env, p := setup(t, topology.Options{}, "stage1", "stage2")
	var stage2 atomic.Int64
	startPool(t, env, consumerCfg("stage1", 4), func(ctx context.Context, j *jetpool.Job) error {
		_, err := j.Forward(ctx, "stage2", j.Payload, nil)
		return err
	})
	startPool(t, env, consumerCfg("stage2", 2), func(ctx context.Context, j *jetpool.Job) error {
		time.Sleep(time.Millisecond)
		stage2.Add(1)
		return nil
	})
	const rounds, perBatch = 25, 20
	for round := range rounds {
		before := stage2.Load()
		b, err := p.EnqueueBatch(context.Background(), "stage1", items("r"+strconv.Itoa(round), perBatch))
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		began := time.Now()
		r, err := b.Wait(ctx, batch.WithPolling(time.Millisecond, 20*time.Millisecond))
		cancel()
		if d := time.Since(began); d > 5*time.Second {
			t.Logf("round %d took %s", round, d)
		}
		require.NoError(t, err, "round %d: last report %+v", round, r)
		require.Equal(t, int64(perBatch), stage2.Load()-before, "round %d: Wait returned before stage 2 finished", round)
		require.Equal(t, perBatch, r.Completed)
		require.True(t, r.Done)
	}
}

func TestReconcileFromAnotherClient(t *testing.T) {
	t.Parallel()
	env, p := setup(t, topology.Options{}, "q")
	b, err := p.EnqueueBatch(context.Background(), "q", items("x", 5), producer.WithBatch("shared"))
	require.NoError(t, err)
	require.Equal(t, 5, b.Enqueued)

	_, js2 := natstest.Connect(t, env.Server.ClientURL())
	other, err := producer.New(js2, producer.Options{})
	require.NoError(t, err)
	r, err := other.Reconcile(context.Background(), "shared")
	require.NoError(t, err)
	assert.Equal(t, 5, r.Expected)
	assert.Equal(t, 5, r.Pending)
	assert.Equal(t, map[string]int{"q": 5}, r.PendingByQueue)
	assert.False(t, r.Done)

	startPool(t, env, consumerCfg("q", 2), func(ctx context.Context, j *jetpool.Job) error {
		if j.ID == "x-3" {
			return jetpool.Permanent(errors.New("bad"))
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var progress atomic.Int64
	r, err = other.Wait(ctx, "shared", batch.WithProgress(func(*batch.Report) { progress.Add(1) }))
	require.NoError(t, err)
	assert.Equal(t, 4, r.Completed)
	assert.Equal(t, 1, r.Dead)
	assert.Equal(t, map[string]int{"q": 1}, r.DeadByQueue)
	assert.True(t, r.Done)

	_, err = other.Reconcile(context.Background(), "no-such-batch")
	assert.ErrorIs(t, err, batch.ErrBatchNotFound)
}

// Wait polls with backoff: while a batch sits unfinished, the server sees
// only a few JetStream API calls per second from it.
func TestWaitPollingBacksOff(t *testing.T) {
	env, p := setup(t, topology.Options{}, "idle")
	_, err := p.EnqueueBatch(context.Background(), "idle", items("i", 1), producer.WithBatch("slow"))
	require.NoError(t, err)
	// One reconcile first, so that opening the bucket and streams, done
	// once per producer, is not counted as polling.
	_, err = p.Reconcile(context.Background(), "slow")
	require.NoError(t, err)
	before, err := env.JS.AccountInfo(context.Background())
	require.NoError(t, err)
	const wait = 4 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err = p.Wait(ctx, "slow")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	after, err := env.JS.AccountInfo(context.Background())
	require.NoError(t, err)
	calls := after.API.Total - before.API.Total - 1 // less the second AccountInfo
	perSecond := float64(calls) / wait.Seconds()
	t.Logf("Wait made %d JetStream API calls in %s: %.1f per second", calls, wait, perSecond)
	// 10ms growing by half each time to 250ms: about 20 snapshots of 2
	// calls, then 8 calls a second.
	assert.LessOrEqual(t, perSecond, 12.0)
	assert.Greater(t, calls, uint64(4), "Wait must poll")
}
