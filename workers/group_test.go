package workers_test

import (
	"context"
	"github.com/jetpool/jetpool/topology"
	"sync"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/producer"
	"github.com/jetpool/jetpool/workers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// One group serves two queues on one connection, each with its own
// concurrency and handler, and stops both.
func TestGroupServesSeveralQueues(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{}, "resize", "mail"))

	var mu sync.Mutex
	seen := map[string][]string{}
	running, most := 0, 0
	record := func(queue string) jetpool.Handler {
		return jetpool.HandlerFunc(func(_ context.Context, job *jetpool.Job) error {
			mu.Lock()
			seen[queue] = append(seen[queue], job.Queue)
			if queue == "mail" {
				running++
				most = max(most, running)
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			mu.Lock()
			if queue == "mail" {
				running--
			}
			mu.Unlock()
			return nil
		})
	}
	g, err := workers.New(env.JS,
		consumer.Options{Queue: "resize", Concurrency: 4, Logger: env.Log, Handler: record("resize")},
		consumer.Options{Queue: "mail", Concurrency: 1, Logger: env.Log, Handler: record("mail")},
	)
	require.NoError(t, err)
	assert.Equal(t, []string{"resize", "mail"}, g.Queues())
	require.NoError(t, g.Start(ctx))

	p, err := producer.New(env.JS, producer.Options{Logger: env.Log})
	require.NoError(t, err)
	for _, q := range []string{"resize", "mail"} {
		b, err := p.EnqueueBatch(ctx, q, []producer.Item{{ID: q + "1"}, {ID: q + "2"}, {ID: q + "3"}})
		require.NoError(t, err)
		r, err := b.Wait(ctx)
		require.NoError(t, err)
		assert.Equal(t, 3, r.Completed, q)
	}
	require.NoError(t, g.Stop(ctx))
	select {
	case <-g.Stopped():
	case <-ctx.Done():
		t.Fatal("Stopped not closed")
	}
	require.NoError(t, g.Stop(ctx), "a second stop is harmless")

	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"resize", "resize", "resize"}, seen["resize"], "each handler gets its own queue's jobs")
	assert.Equal(t, []string{"mail", "mail", "mail"}, seen["mail"])
	assert.Equal(t, 1, most, "mail's own concurrency")
	assert.EqualValues(t, 3, g.Pool("mail").Stats().Completed)
	assert.Nil(t, g.Pool("nope"))
}

func TestGroupRefusesBadQueues(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	noop := jetpool.HandlerFunc(func(context.Context, *jetpool.Job) error { return nil })
	_, err := workers.New(env.JS)
	assert.ErrorContains(t, err, "no queue")
	_, err = workers.New(env.JS, consumer.Options{Queue: "a", Handler: noop}, consumer.Options{Queue: "a", Handler: noop})
	assert.ErrorContains(t, err, "queue a given twice")
	_, err = workers.New(env.JS, consumer.Options{Queue: "a.b", Handler: noop})
	assert.ErrorContains(t, err, "workers: queue a.b")
}
