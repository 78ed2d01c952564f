package dlq_test

import (
	"context"
	"errors"
	"github.com/jetpool/jetpool/topology"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/dlq"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestListRetryPurge(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{}, "q"))
	p, err := producer.New(env.JS, producer.Options{Logger: env.Log})
	require.NoError(t, err)

	var healed atomic.Bool
	pool, err := consumer.New(env.JS, consumer.Options{Queue: "q", Logger: env.Log, Handler: jetpool.HandlerFunc(func(ctx context.Context, j *jetpool.Job) error {
		if j.ID != "ok" && !healed.Load() {
			return jetpool.Permanent(errors.New("poison " + j.ID))
		}
		return nil
	})})
	require.NoError(t, err)
	require.NoError(t, pool.Start(ctx))
	defer func() { require.NoError(t, pool.Stop(ctx)) }()

	b, err := p.EnqueueBatch(ctx, "q", []producer.Item{{ID: "ok"}, {ID: "bad1", Payload: []byte("p1")}, {ID: "bad2", Payload: []byte("p2")}})
	require.NoError(t, err)
	r, err := b.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, r.Dead)

	admin, err := dlq.New(env.JS, dlq.Options{Logger: env.Log})
	require.NoError(t, err)
	letters, err := admin.List(ctx, "q")
	require.NoError(t, err)
	require.Len(t, letters, 2)
	if letters[0].JobID != "bad1" { // the two died concurrently, in either order
		letters[0], letters[1] = letters[1], letters[0]
	}
	assert.Equal(t, "bad1", letters[0].JobID)
	assert.Equal(t, b.ID, letters[0].Batch)
	assert.Equal(t, "p1", string(letters[0].Payload))
	assert.Contains(t, letters[0].Error, "poison bad1")
	assert.Equal(t, 1, letters[0].Attempts)

	l, err := admin.Get(ctx, "q", "bad2")
	require.NoError(t, err)
	assert.Equal(t, "p2", string(l.Payload))
	_, err = admin.Get(ctx, "q", "nope")
	assert.ErrorIs(t, err, dlq.ErrNotFound)

	healed.Store(true)
	require.NoError(t, admin.Retry(ctx, "q", "bad1"))
	n, err := admin.RetryAll(ctx, "q")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	r, err = b.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, r.Completed)
	assert.Equal(t, 0, r.Dead)

	// A fresh dead letter, then purge.
	healed.Store(false)
	_, err = p.Enqueue(ctx, "q", nil, producer.WithID("bad3"))
	require.NoError(t, err)
	natstest.Eventually(t, 10*time.Second, func() bool { ls, _ := admin.List(ctx, "q"); return len(ls) == 1 }, "bad3 dead")
	purged, err := admin.Purge(ctx, "q")
	require.NoError(t, err)
	assert.Equal(t, 1, purged)
	letters, err = admin.List(ctx, "q")
	require.NoError(t, err)
	assert.Empty(t, letters)
}

// Admin takes Options, as every other constructor does; zero Options mean
// the default names.
func TestNewTakesOptions(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	names, err := jetpool.NewNames("acme")
	require.NoError(t, err)
	admin, err := dlq.New(env.JS, dlq.Options{Names: names})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = admin.List(ctx, "q")
	assert.ErrorContains(t, err, "ACME_DEAD", "the prefix's streams")
}

// An Admin needs a JetStream; without one the error says which package
// refused it.
func TestNewWithoutJetStreamFails(t *testing.T) {
	_, err := dlq.New(nil, dlq.Options{})
	require.Error(t, err)
	assert.Equal(t, "dlq: nil JetStream", err.Error())
}
