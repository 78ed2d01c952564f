package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool/topology"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/registry"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// status lists a queue that has jobs but no consumer, with numbers that
// match the work stream; workers and slots come from the registry; the
// cluster section names the streams.
func TestStatusShowsUnconsumedQueuesAndWorkers(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{}, "q"))
	url := env.Server.ClientURL()
	for range 5 {
		res := runJetpool(t, ctx, "", "--nats-url", url, "enqueue", "nobody", "hello")
		require.Equal(t, 0, res.code)
	}
	res := runJetpool(t, ctx, "a\nb\nc\n", "--nats-url", url, "enqueue", "q", "-", "--batch", "sb")
	require.Equal(t, 0, res.code)
	// Two of q's three jobs delivered and not acked; a worker announced 3
	// running before one finished: status shows no more running than the
	// server has in flight.
	c, err := env.JS.Consumer(ctx, jetpool.DefaultNames().WorkStream(), "q")
	require.NoError(t, err)
	fetched, err := c.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	n := 0
	for range fetched.Messages() {
		n++
	}
	require.Equal(t, 2, n)
	w, err := registry.NewAnnouncer(ctx, env.JS, jetpool.DefaultNames(), registry.Worker{Queue: "q", Concurrency: 6}, func() int { return 3 }, env.Log)
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
	assert.Equal(t, uint64(1), q.Pending)
	assert.Equal(t, 2, q.InFlight)
	assert.Equal(t, 1, q.Processes)
	assert.Equal(t, 6, q.Slots)
	assert.Equal(t, 2, q.Running, "capped at the jobs in flight")
	s, err := env.JS.Stream(ctx, jetpool.DefaultNames().WorkStream())
	require.NoError(t, err)
	assert.Equal(t, s.CachedInfo().State.Msgs, byQueue["nobody"].Pending+q.Pending+uint64(q.InFlight), "the numbers match the work stream")
	require.NotEmpty(t, st.Batches)
	assert.Equal(t, "sb", st.Batches[0].Batch, "the most recent batch first")
	require.NotEmpty(t, st.Cluster.Streams)
	assert.Equal(t, jetpool.DefaultNames().WorkStream(), st.Cluster.Streams[0].Stream)

	res = runJetpool(t, ctx, "", "--nats-url", url, "status")
	require.Equal(t, 0, res.code)
	assert.Contains(t, res.stdout, "nobody (no consumer: run jetpool provision nobody)")
	assert.Contains(t, res.stdout, "CLUSTER")
}

// In a three-node cluster, status names the meta leader (read from the
// servers' monitoring endpoints), its peers and the queue consumer's
// leader; when the meta leader stops, it names the new one, and the
// stopped server's endpoint no longer answering does not fail status.
func TestStatusShowsMetaLeaderAndConsumerLeaders(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	c := natstest.StartCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, c.JS, topology.Options{Replicas: 3}, "q"))
	var monitor string
	status := func() Status {
		t.Helper()
		res := runJetpool(t, ctx, "", "--nats-url", c.URL(), "status", "--json", "--monitor", monitor)
		require.Equal(t, 0, res.code)
		var st Status
		require.NoError(t, json.Unmarshal([]byte(res.stdout), &st))
		return st
	}
	metaLeader := func() string {
		for _, n := range c.Nodes {
			if n.Server != nil && n.Server.NATS().JetStreamIsLeader() {
				return n.Name
			}
		}
		return ""
	}

	// The leader's endpoint last: a follower's answer, first, names the
	// leader but cannot tell whether the peers are current.
	natstest.Eventually(t, 30*time.Second, func() bool { return metaLeader() != "" }, "a meta leader")
	var urls []string
	for _, n := range c.Nodes {
		if n.Name != metaLeader() {
			urls = append(urls, "http://"+n.Monitor)
		}
	}
	monitor = strings.Join(append(urls, "http://"+c.Node(metaLeader()).Monitor), ",")
	var st Status
	natstest.Eventually(t, 30*time.Second, func() bool {
		st = status()
		if st.Cluster.Meta == nil || len(st.Cluster.Meta.Replicas) != 2 {
			return false
		}
		for _, r := range st.Cluster.Meta.Replicas {
			if !r.Current {
				return false
			}
		}
		return true
	}, "status lists the meta leader's two peers, current")
	assert.Equal(t, metaLeader(), st.Cluster.Meta.Leader)
	assert.Equal(t, 3, st.Cluster.Meta.Size)
	require.Len(t, st.Cluster.Consumers, 1)
	assert.Equal(t, "q", st.Cluster.Consumers[0].Queue)
	assert.NotEmpty(t, st.Cluster.Consumers[0].Leader, "the consumer's leader")
	assert.Len(t, st.Cluster.Consumers[0].Replicas, 2)

	old := c.Node(st.Cluster.Meta.Leader)
	c.Stop(t, old)
	natstest.Eventually(t, time.Minute, func() bool { l := metaLeader(); return l != "" && l != old.Name }, "a new meta leader")
	natstest.Eventually(t, 30*time.Second, func() bool {
		st = status()
		return st.Cluster.Meta != nil && st.Cluster.Meta.Leader == metaLeader()
	}, "status names the new meta leader")
	var stopped *ReplicaStatus
	for i, r := range st.Cluster.Meta.Replicas {
		if r.Name == old.Name {
			stopped = &st.Cluster.Meta.Replicas[i]
		}
	}
	if assert.NotNil(t, stopped, "the stopped server is still a peer: %+v", st.Cluster.Meta.Replicas) {
		assert.False(t, stopped.Current, "the stopped server is not current")
	}

	res := runJetpool(t, ctx, "", "--nats-url", c.URL(), "status", "--monitor", monitor)
	require.Equal(t, 0, res.code)
	assert.Contains(t, res.stdout, "META LEADER "+metaLeader())
	assert.Contains(t, res.stdout, "CONSUMER")
	res = runJetpool(t, ctx, "", "--nats-url", c.URL(), "status")
	require.Equal(t, 0, res.code)
	assert.Contains(t, res.stdout, "META LEADER unknown", "without --monitor")
	assert.Contains(t, res.stdout, "--monitor")
}

// Jobs a stopped worker returned are not shown in flight: with no live
// worker holding them they await redelivery. While a worker holds jobs,
// they are in flight.
func TestStatusShowsReturnedJobsAwaitingRedelivery(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{}, "q"))
	url := env.Server.ClientURL()
	queue := func() QueueStatus {
		t.Helper()
		res := runJetpool(t, ctx, "", "--nats-url", url, "status", "--json")
		require.Equal(t, 0, res.code)
		var st Status
		require.NoError(t, json.Unmarshal([]byte(res.stdout), &st))
		for _, q := range st.Queues {
			if q.Queue == "q" {
				return q
			}
		}
		return QueueStatus{}
	}
	code, out := runStdin(t, strings.Repeat("job\n", 12), "--nats-url", url, "enqueue", "q", "-", "--batch", "ret")
	require.Equal(t, ExitOK, code, out)

	// Eight slots, three-second jobs: it runs eight and holds four more.
	w := runInBackground(t, "--nats-url", url, "work", "--queue", "q", "--concurrency", "8", "--builtin", "sleep=3s")
	natstest.Eventually(t, 10*time.Second, func() bool {
		q := queue()
		return q.InFlight == 12 && q.Redelivery == 0 && q.Processes == 1
	}, "the worker's twelve jobs are in flight")
	w.stop()
	require.Equal(t, ExitOK, w.wait(t, 30*time.Second), w.stderr.String())

	q := queue()
	assert.Equal(t, 0, q.Processes, "the stopped worker left the registry")
	assert.Equal(t, 0, q.InFlight, "no live worker holds a job")
	assert.Equal(t, 4, q.Redelivery, "the four it returned wait for redelivery")
	res := runJetpool(t, ctx, "", "--nats-url", url, "status")
	require.Equal(t, 0, res.code)
	assert.Contains(t, res.stdout, "REDELIVERY")
}
