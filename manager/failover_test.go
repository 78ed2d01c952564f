package manager_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/manager"
	"github.com/jetpool/jetpool/producer"
	"github.com/jetpool/jetpool/topology"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clusterSetup starts a three-node cluster with an R3 topology.
func clusterSetup(t *testing.T, queues ...string) *natstest.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("cluster failover tests start three servers")
	}
	c := natstest.StartCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, c.JS, topology.Options{Replicas: 3}, queues...))
	return c
}

// clusterWorkers counts every job ID handled by a pool on its own
// connection to the cluster.
func clusterWorkers(t *testing.T, c *natstest.Cluster, queue string) *idSet {
	t.Helper()
	_, js := natstest.Connect(t, c.URL())
	seen := &idSet{}
	pool, err := consumer.New(js, consumer.Options{Queue: queue, Concurrency: 32, Logger: c.Log,
		Backoff: consumer.Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond},
		Handler: jetpool.HandlerFunc(func(_ context.Context, j *jetpool.Job) error {
			seen.add(j.ID)
			return nil
		})})
	require.NoError(t, err)
	require.NoError(t, pool.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		assert.NoError(t, pool.Stop(ctx))
	})
	return seen
}

// A manager keeps every cycle across a stream leader change: each cycle's
// jobs are all processed, and no cycle is reported done with jobs missing.
func TestManagerKeepsCyclesAcrossLeaderChange(t *testing.T) {
	c := clusterSetup(t, "m")
	seen := clusterWorkers(t, c, "m")
	const perCycle = 200
	var mu sync.Mutex
	var reports []manager.CycleReport
	m, err := manager.New(c.JS, manager.Options{
		Name: "mgr", Queue: "m", Interval: 3 * time.Second, Logger: c.Log,
		Source: func(context.Context) ([]producer.Item, error) {
			out := make([]producer.Item, perCycle)
			for i := range out {
				out[i].Payload = []byte("x")
			}
			return out, nil
		},
		OnCycle: func(r manager.CycleReport) {
			mu.Lock()
			reports = append(reports, r)
			mu.Unlock()
		},
		Cycles: 6,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- m.Run(ctx) }()
	natstest.Eventually(t, time.Minute, func() bool { mu.Lock(); defer mu.Unlock(); return len(reports) >= 1 }, "a first cycle")
	leader := c.StreamLeader(t, jetpool.DefaultNames().WorkStream())
	c.Stop(t, leader)
	require.NoError(t, <-ran)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, reports, 6)
	failed := 0
	for _, r := range reports {
		missing := 0
		for i := range perCycle {
			if !seen.has(fmt.Sprintf("%s-%d", r.Batch, i)) {
				missing++
			}
		}
		if r.Err != nil {
			failed++
			t.Logf("cycle %s reported failed: %v (%d jobs not processed)", r.Batch, r.Err, missing)
			continue
		}
		require.NotNil(t, r.Report, "cycle %s", r.Batch)
		assert.True(t, r.Report.Done, "cycle %s", r.Batch)
		assert.Equal(t, perCycle, r.Report.Expected, "cycle %s", r.Batch)
		assert.Zero(t, missing, "cycle %s reported done with jobs missing", r.Batch)
	}
	assert.LessOrEqual(t, failed, 1, "at most the cycle cut by the election fails, and only if the election outlasts its interval")
	t.Logf("%d cycles, %d reported failed, leader %s stopped after the first", len(reports), failed, leader.Name)
}
