package producer_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetpool/jetpool/batch"
	"github.com/jetpool/jetpool/topology"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clusterSetup starts a three-node cluster with an R3 topology.
func clusterSetup(t *testing.T, queues ...string) (*natstest.Cluster, *producer.Producer) {
	t.Helper()
	if testing.Short() {
		t.Skip("cluster failover tests start three servers")
	}
	c := natstest.StartCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, c.JS, topology.Options{Replicas: 3}, queues...))
	p, err := producer.New(c.JS, producer.Options{Logger: c.Log})
	require.NoError(t, err)
	return c, p
}

// clusterWorkers counts every job ID handled by a pool on its own
// connection to the cluster.
func clusterWorkers(t *testing.T, c *natstest.Cluster, queue string, handle func()) *idSet {
	t.Helper()
	_, js := natstest.Connect(t, c.URL())
	seen := &idSet{}
	pool, err := consumer.New(js, consumer.Options{Queue: queue, Concurrency: 32, Logger: c.Log,
		Backoff: consumer.Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}, Handler: jetpool.HandlerFunc(func(_ context.Context, j *jetpool.Job) error {
			if handle != nil {
				handle()
			}
			seen.add(j.ID)
			return nil
		})},
	)
	require.NoError(t, err)
	require.NoError(t, pool.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		assert.NoError(t, pool.Stop(ctx))
	})
	return seen
}

// electedAfter waits for stream to have a leader other than old and
// returns how long that took since from.
func electedAfter(t *testing.T, c *natstest.Cluster, stream string, old *natstest.Node, from time.Time) time.Duration {
	natstest.Eventually(t, 60*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s, err := c.JS.Stream(ctx, stream)
		return err == nil && s.CachedInfo().Cluster != nil && s.CachedInfo().Cluster.Leader != "" && s.CachedInfo().Cluster.Leader != old.Name
	}, "a new leader for %s", stream)
	return time.Since(from)
}

func TestEnqueueBatchSurvivesStreamLeaderLoss(t *testing.T) {
	c, p := clusterSetup(t, "q")
	work := jetpool.DefaultNames().WorkStream()
	const n = 50000
	in := items("f", n)
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		_, err := p.EnqueueBatch(ctx, "q", in, producer.WithBatch("failover"))
		done <- err
	}()
	natstest.Eventually(t, 2*time.Minute, func() bool {
		m, err := p.Manifest(context.Background(), "failover")
		return err == nil && m.Settled >= n/5
	}, "a fifth of the batch is stored")
	leader := c.StreamLeader(t, work)
	settled := func() int {
		m, err := p.Manifest(context.Background(), "failover")
		if err != nil {
			return 0
		}
		return m.Settled
	}
	before := settled()
	killed := time.Now()
	c.Stop(t, leader)
	election := electedAfter(t, c, work, leader, killed)
	// Recovery: the enqueue records progress past what it had stored at the
	// stop (a checkpoint comes every 1,024 jobs).
	natstest.Eventually(t, 2*time.Minute, func() bool { return settled() > before+2048 }, "the enqueue makes progress again")
	recovered := time.Since(killed)
	require.NoError(t, <-done, "the enqueue rides out the leader change")
	t.Logf("leader %s stopped %s into the enqueue; new leader after %s; progress again after %s; enqueue of %d done %s after the stop",
		leader.Name, killed.Sub(start).Round(time.Millisecond), election.Round(time.Millisecond), recovered.Round(time.Millisecond), n, time.Since(killed).Round(time.Millisecond))
	assert.Less(t, recovered, election+20*time.Second, "the enqueue resumes within the election time plus a few seconds")

	seen := clusterWorkers(t, c, "q", nil)
	r := waitDone(t, p, "failover")
	natstest.Eventually(t, 2*time.Minute, func() bool { return seen.len() == n }, "every job processed: %d of %d", seen.len(), n)
	assert.Equal(t, n, r.Expected)
	assert.Equal(t, n, r.Completed)
	assert.Zero(t, r.MayRepeat)
	assert.Zero(t, seen.duplicates(), "no job stored twice")
}

func TestWaitSurvivesLeaderLoss(t *testing.T) {
	for _, which := range []string{"stream leader", "consumer leader"} {
		t.Run(which, func(t *testing.T) {
			c, p := clusterSetup(t, "q")
			const n = 3000
			_, err := p.EnqueueBatch(context.Background(), "q", items("w", n), producer.WithBatch("wait"))
			require.NoError(t, err)

			var mu sync.Mutex
			var lastJob time.Time
			seen := clusterWorkers(t, c, "q", func() {
				time.Sleep(2 * time.Millisecond)
				mu.Lock()
				lastJob = time.Now()
				mu.Unlock()
			})
			type result struct {
				r   *batch.Report
				err error
				at  time.Time
			}
			waited := make(chan result, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				r, err := p.Wait(ctx, "wait")
				waited <- result{r, err, time.Now()}
			}()
			natstest.Eventually(t, time.Minute, func() bool { return seen.len() >= n/10 }, "work under way")
			victim := c.StreamLeader(t, jetpool.DefaultNames().WorkStream())
			if which == "consumer leader" {
				victim = c.ConsumerLeader(t, jetpool.DefaultNames().WorkStream(), "q")
			}
			killed := time.Now()
			c.Stop(t, victim)
			res := <-waited
			require.NoError(t, res.err)
			mu.Lock()
			lag := res.at.Sub(lastJob)
			mu.Unlock()
			t.Logf("%s %s stopped; wait returned %s after the stop, %s after the last job finished",
				which, victim.Name, res.at.Sub(killed).Round(time.Millisecond), lag.Round(time.Millisecond))
			assert.Less(t, lag, 15*time.Second, "the wait returns within seconds of the batch finishing")
			assert.Equal(t, n, res.r.Expected)
			assert.Equal(t, n, res.r.Completed)
			assert.Equal(t, n, seen.len(), "every job processed")
		})
	}
}

func TestEnqueueSurvivesStreamLeaderLoss(t *testing.T) {
	c, p := clusterSetup(t, "q")
	work := jetpool.DefaultNames().WorkStream()
	const senders, per = 16, 1000
	var sent atomic.Int64
	errs := make(chan error, senders)
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				// No deadline of the caller's: the producer's Timeout
				// bounds each call and its attempts.
				if _, err := p.Enqueue(context.Background(), "q", []byte("x"), producer.WithID(fmt.Sprintf("s%d-%d", g, i))); err != nil {
					errs <- fmt.Errorf("job s%d-%d: %w", g, i, err)
					return
				}
				sent.Add(1)
			}
		}()
	}
	natstest.Eventually(t, time.Minute, func() bool { return sent.Load() >= senders*per/10 }, "a tenth of the jobs enqueued")
	leader := c.StreamLeader(t, work)
	killed := time.Now()
	c.Stop(t, leader)
	atStop := sent.Load()
	election := electedAfter(t, c, work, leader, killed)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "every Enqueue rides out the leader change")
	}
	require.Less(t, atStop, int64(senders*per), "the leader stopped while jobs were being enqueued")
	t.Logf("leader %s stopped after %d of %d enqueues; new leader after %s; the rest done %s after the stop",
		leader.Name, atStop, senders*per, election.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))

	seen := clusterWorkers(t, c, "q", nil)
	natstest.Eventually(t, 2*time.Minute, func() bool { return seen.len() == senders*per }, "every job processed: %d of %d", seen.len(), senders*per)
	assert.Zero(t, seen.duplicates(), "no job stored twice: a resent publish is deduplicated")
}
