package cli

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/broker"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/registry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// status lists a queue that has jobs but no consumer, with numbers that
// match the work stream; workers and slots come from the registry; the
// cluster section names the streams.
func TestStatusShowsUnconsumedQueuesAndWorkers(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, broker.Provision(ctx, env.JS, broker.ProvisionOptions{}, "q"))
	url := env.Server.ClientURL()
	for range 5 {
		res := runJetpool(t, ctx, "", "--nats-url", url, "enqueue", "nobody", "hello")
		require.Equal(t, 0, res.code)
	}
	res := runJetpool(t, ctx, "a\nb\n", "--nats-url", url, "enqueue", "q", "-", "--batch", "sb")
	require.Equal(t, 0, res.code)
	w, err := registry.NewAnnouncer(ctx, env.JS, jetpool.DefaultNames(), registry.Worker{Queue: "q", Concurrency: 6}, func() int { return 2 }, env.Log)
	require.NoError(t, err)
	require.NoError(t, w.Announce(ctx))

	res = runJetpool(t, ctx, "", "--nats-url", url, "status", "--json")
	require.Equal(t, 0, res.code)
	var st Status
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &st))
	byQueue := map[string]QueueStatus{}
	for _, q := range st.Queues {
		byQueue[q.Queue] = q
	}
	assert.Equal(t, QueueStatus{Queue: "nobody", Pending: 5}, byQueue["nobody"], "an unconsumed queue is listed")
	q := byQueue["q"]
	assert.True(t, q.Consumer)
	assert.Equal(t, uint64(2), q.Pending)
	assert.Equal(t, 1, q.Processes)
	assert.Equal(t, 6, q.Slots)
	assert.Equal(t, 2, q.Running)
	s, err := env.JS.Stream(ctx, jetpool.DefaultNames().WorkStream())
	require.NoError(t, err)
	assert.Equal(t, s.CachedInfo().State.Msgs, byQueue["nobody"].Pending+q.Pending, "the numbers match the work stream")
	require.NotEmpty(t, st.Batches)
	assert.Equal(t, "sb", st.Batches[0].Batch, "the most recent batch first")
	require.NotEmpty(t, st.Cluster.Streams)
	assert.Equal(t, jetpool.DefaultNames().WorkStream(), st.Cluster.Streams[0].Stream)

	res = runJetpool(t, ctx, "", "--nats-url", url, "status")
	require.Equal(t, 0, res.code)
	assert.Contains(t, res.stdout, "nobody (no consumer: run jetpool provision nobody)")
	assert.Contains(t, res.stdout, "CLUSTER")
}
