package consumer_test

import (
	"context"
	"github.com/jetpool/jetpool/topology"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A job a pool held and returned unstarted at Stop is not charged an
// attempt, however many times it is returned: with MaxAttempts 1, after two
// pools held and returned jobs, a third still runs every job left, at
// attempt 1, instead of dead-lettering them unrun. Once settled, their
// return counts are dropped.
func TestStopDoesNotChargeReturnedJobsAnAttempt(t *testing.T) {
	env := setup(t, topology.Options{}, "q")
	const jobs = 20
	publishWarmUp(t, env, 200)
	ids := publishN(t, env.JS, "q", "b1", jobs)
	ran := holdAndStop(t, env, 1, jobs, 1+jobs) // pulls far ahead after the warm-up
	ran += holdAndStop(t, env, 2, jobs, 3)      // no warm-up: one job ahead
	left := jobs - ran

	var mu sync.Mutex
	attempts := map[string]int{}
	third := startPool(t, env, consumer.Options{Queue: "q", Concurrency: 4, MaxAttempts: 1},
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
		return len(attempts) == left || third.Stats().Dead > 0
	}, "the third pool runs every job the others did not")
	assert.Zero(t, third.Stats().Dead, "no returned job is dead-lettered unrun")
	mu.Lock()
	for _, id := range ids {
		if a, ok := attempts[id]; ok {
			assert.Equal(t, 1, a, "job %s returned unstarted runs at attempt 1", id)
		}
	}
	assert.Len(t, attempts, left)
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

// holdAndStop runs a pool of concurrency workers whose jobs block until it
// stops, waits until up to want jobs were delivered to it (some it has not
// started), stops it and returns how many jobs it ran.
func holdAndStop(t *testing.T, env *natstest.Env, concurrency, prefetch, want int) int {
	t.Helper()
	before := delivered(t, env)
	finish := make(chan struct{})
	var ran, warm atomic.Int64
	pool, err := consumer.New(env.JS, consumer.Options{Queue: "q", Concurrency: concurrency, Prefetch: prefetch, MaxAttempts: 1, Logger: env.Log, Handler: jetpool.HandlerFunc(func(_ context.Context, j *jetpool.Job) error {
		if j.Batch == warmBatch {
			warm.Add(1)
			return nil
		}
		ran.Add(1)
		<-finish
		return nil
	})})
	require.NoError(t, err)
	require.NoError(t, pool.Start(context.Background()))
	natstest.Eventually(t, 10*time.Second, func() bool { return ran.Load() == int64(concurrency) }, "the pool runs %d jobs", concurrency)
	// How many jobs a pool pulls ahead depends on how fast it saw jobs run,
	// which a busy machine slows: wait up to 5s for want.
	held := 0
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if held = delivered(t, env) - before - int(warm.Load()); held >= want {
			break
		}
	}
	t.Logf("the pool holds %d jobs (up to %d wanted)", held, want)
	require.Greater(t, held, concurrency, "jobs wait in the pool")

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		stopped <- pool.Stop(ctx)
	}()
	natstest.Eventually(t, 10*time.Second, func() bool { return pool.Stats().Released >= uint64(held-concurrency) }, "the waiting jobs are returned")
	close(finish)
	require.NoError(t, <-stopped)
	require.EqualValues(t, concurrency, ran.Load(), "no job starts once Stop began")
	return concurrency
}

// delivered counts the deliveries queue q's consumer has made.
func delivered(t *testing.T, env *natstest.Env) int {
	t.Helper()
	c, err := env.JS.Consumer(context.Background(), names.WorkStream(), "q")
	require.NoError(t, err)
	info, err := c.Info(context.Background())
	require.NoError(t, err)
	return int(info.Delivered.Consumer)
}
