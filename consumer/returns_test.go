package consumer_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/broker"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A job a pool held and returned unstarted at Stop is not charged an
// attempt: with MaxAttempts 1, another pool still runs it, at attempt 1,
// instead of dead-lettering it unrun. Once settled, its return count is
// dropped.
func TestStopDoesNotChargeReturnedJobsAnAttempt(t *testing.T) {
	env := setup(t, broker.ProvisionOptions{}, "q")
	const jobs = 20
	publishWarmUp(t, env, 200)
	ids := publishN(t, env.JS, "q", "b1", jobs)
	finish := make(chan struct{})
	var firstRan atomic.Int64
	first, err := consumer.New(env.JS, consumer.Config{Queue: "q", Concurrency: 1, Prefetch: jobs, MaxAttempts: 1, Logger: env.Log},
		jetpool.HandlerFunc(func(_ context.Context, j *jetpool.Job) error {
			if j.Batch == warmBatch {
				return nil
			}
			firstRan.Add(1)
			<-finish
			return nil
		}))
	require.NoError(t, err)
	require.NoError(t, first.Start(context.Background()))
	natstest.Eventually(t, 10*time.Second, func() bool { return firstRan.Load() == 1 }, "the first pool runs a job")
	held := waitHeld(t, env, 1+jobs)
	require.Greater(t, held, 1, "jobs wait in the first pool")

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		stopped <- first.Stop(ctx)
	}()
	natstest.Eventually(t, 10*time.Second, func() bool { return first.Stats().Released >= uint64(held-1) }, "the waiting jobs are returned")
	close(finish)
	require.NoError(t, <-stopped)
	require.EqualValues(t, 1, firstRan.Load(), "the first pool ran one job")

	var mu sync.Mutex
	attempts := map[string]int{}
	second := startPool(t, env, consumer.Config{Queue: "q", Concurrency: 4, MaxAttempts: 1},
		jetpool.HandlerFunc(func(_ context.Context, j *jetpool.Job) error {
			if j.Batch == warmBatch {
				return nil
			}
			mu.Lock()
			attempts[j.ID] = j.Attempt
			mu.Unlock()
			return nil
		}))
	natstest.Eventually(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(attempts) == jobs-1 || second.Stats().Dead > 0
	}, "the second pool runs every job the first did not")
	assert.Zero(t, second.Stats().Dead, "no returned job is dead-lettered unrun")
	mu.Lock()
	for _, id := range ids {
		if a, ok := attempts[id]; ok {
			assert.Equal(t, 1, a, "job %s returned unstarted runs at attempt 1", id)
		}
	}
	assert.Len(t, attempts, jobs-1)
	mu.Unlock()

	kv, err := env.JS.KeyValue(context.Background(), names.ReturnBucket())
	require.NoError(t, err)
	natstest.Eventually(t, 5*time.Second, func() bool {
		keys, err := kv.ListKeys(context.Background())
		require.NoError(t, err)
		n := 0
		for range keys.Keys() {
			n++
		}
		return n == 0
	}, "the return counts of settled jobs are dropped")
}
