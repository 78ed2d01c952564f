package producer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/batch"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/producer"
	"github.com/jetpool/jetpool/topology"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// counted records every handled job ID, independently of jetpool's report.
func counted(t *testing.T, env *natstest.Env, queue string) *idSet {
	seen := &idSet{}
	startPool(t, env, consumerCfg(queue, 16), func(_ context.Context, j *jetpool.Job) error {
		seen.add(j.ID)
		return nil
	})
	return seen
}

func (s *idSet) duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.m {
		n += c - 1
	}
	return n
}

func waitDone(t *testing.T, p *producer.Producer, batch string) *batch.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := p.Wait(ctx, batch)
	require.NoError(t, err)
	return r
}

func workMsgs(t *testing.T, env *natstest.Env) uint64 {
	s, err := env.JS.Stream(context.Background(), jetpool.DefaultNames().WorkStream())
	require.NoError(t, err)
	return s.CachedInfo().State.Msgs
}

// A full stream (Discard: New) refuses part of a batch; re-running the
// same input while workers drain it completes the batch with each job
// stored once and an exact expected count.
func TestFullStreamBatchCompletesByReRuns(t *testing.T) {
	t.Parallel()
	env, p := setup(t, topology.Options{MaxMsgs: 500}, "q")
	const n = 2000
	in := items("full", n)
	b, err := p.EnqueueBatch(context.Background(), "q", in, producer.WithBatch("full"))
	var pe *producer.PartialError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 500, b.Enqueued)
	assert.Len(t, pe.Failed, n-500)
	m, merr := p.Manifest(context.Background(), "full")
	require.NoError(t, merr)
	assert.Equal(t, 500, m.Expected)
	assert.Equal(t, n-500, m.Failed)

	seen := counted(t, env, "q")
	runs := 1
	for ; err != nil; runs++ {
		require.ErrorAs(t, err, &pe, "only refusals by the full stream are expected")
		require.Less(t, runs, 200, "re-runs should finish the batch")
		natstest.Eventually(t, 30*time.Second, func() bool { return workMsgs(t, env) < 500 }, "workers drain the stream")
		_, err = p.EnqueueBatch(context.Background(), "q", in, producer.WithBatch("full"))
	}
	r := waitDone(t, p, "full")
	assert.Equal(t, n, r.Expected)
	assert.Equal(t, n, r.Completed)
	assert.Zero(t, r.NotEnqueued)
	assert.Zero(t, r.MayRepeat)
	assert.Equal(t, n, seen.len(), "every job processed")
	assert.Zero(t, seen.duplicates(), "no job processed twice")
	t.Logf("%d runs to enqueue %d jobs through a 500-message stream", runs, n)

	// A further re-run of the complete batch changes nothing.
	b, err = p.EnqueueBatch(context.Background(), "q", in, producer.WithBatch("full"))
	require.NoError(t, err)
	assert.Zero(t, b.Enqueued)
	assert.Equal(t, n, b.Repeated)
	assert.Equal(t, n, waitDone(t, p, "full").Expected)
}

// Outside the deduplication window and after a broker restart, a re-run of
// a completed batch publishes nothing: JetStream no longer remembers the
// IDs, the manifest does.
func TestReRunAfterDedupWindowAndRestartPublishesNothing(t *testing.T) {
	env, p := setup(t, topology.Options{Duplicates: 200 * time.Millisecond}, "q")
	const n = 300
	in := items("w", n)
	_, err := p.EnqueueBatch(context.Background(), "q", in, producer.WithBatch("w"))
	require.NoError(t, err)
	seen := counted(t, env, "q")
	require.Equal(t, n, waitDone(t, p, "w").Completed)
	natstest.Eventually(t, 10*time.Second, func() bool { return seen.len() == n }, "all processed")

	time.Sleep(300 * time.Millisecond) // let the dedup window pass: it is a time, not a condition
	b, err := p.EnqueueBatch(context.Background(), "q", in, producer.WithBatch("w"))
	require.NoError(t, err)
	assert.Zero(t, b.Enqueued, "outside the dedup window")
	assert.Equal(t, n, b.Repeated)

	env.Restart(t)
	b, err = p.EnqueueBatch(context.Background(), "q", in, producer.WithBatch("w"))
	require.NoError(t, err)
	assert.Zero(t, b.Enqueued, "after a broker restart")
	r := waitDone(t, p, "w")
	assert.Equal(t, n, r.Expected)
	assert.Zero(t, seen.duplicates())
	assert.Equal(t, n, seen.len())

	// The same input extended by new jobs adds only those.
	more := append(in, items("extra", 10)...)
	b, err = p.EnqueueBatch(context.Background(), "q", more, producer.WithBatch("w"))
	require.NoError(t, err)
	assert.Equal(t, 10, b.Enqueued)
	assert.Equal(t, n+10, waitDone(t, p, "w").Expected)
}

func TestReRunWithOtherJobsIsRefused(t *testing.T) {
	t.Parallel()
	env, p := setup(t, topology.Options{}, "q")
	_, err := p.EnqueueBatch(context.Background(), "q", items("a", 50), producer.WithBatch("b"))
	require.NoError(t, err)
	_, err = p.EnqueueBatch(context.Background(), "q", items("other", 50), producer.WithBatch("b"))
	require.ErrorIs(t, err, producer.ErrBatchMismatch)
	assert.ErrorContains(t, err, "batch b")
	_, err = p.EnqueueBatch(context.Background(), "q", items("a", 20), producer.WithBatch("b"))
	require.ErrorIs(t, err, producer.ErrBatchMismatch, "a shorter input")
	assert.Equal(t, uint64(50), workMsgs(t, env), "nothing published by refused re-runs")
}

// A producer that dies mid-batch (its connection cut, so it records nothing
// more) leaves the batch unsealed; a re-run by another producer completes
// it. Inside the dedup window the re-run is exact; after the window and a
// broker restart, duplicates stay within what the re-run reports.
func TestCrashedEnqueueIsResumedByReRun(t *testing.T) {
	for _, tc := range []struct {
		name    string
		forget  bool // let the dedup window pass and restart the broker
		dupWind time.Duration
	}{
		{name: "inside dedup window", dupWind: 2 * time.Minute},
		{name: "after dedup window and restart", forget: true, dupWind: 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, p := setup(t, topology.Options{Duplicates: tc.dupWind}, "q")
			const n = 20000
			in := items("c", n)
			nc, js := natstest.Connect(t, env.Server.ClientURL())
			doomed, err := producer.New(js, producer.Options{Logger: env.Log})
			require.NoError(t, err)
			done := make(chan error, 1)
			go func() {
				_, err := doomed.EnqueueBatch(context.Background(), "q", in, producer.WithBatch("crash"))
				done <- err
			}()
			natstest.Eventually(t, 30*time.Second, func() bool { return workMsgs(t, env) >= 5000 }, "the first producer publishes")
			nc.Close() // the producer is gone: no further publish, no manifest update
			require.Error(t, <-done)
			m, err := p.Manifest(context.Background(), "crash")
			require.NoError(t, err)
			require.NotNil(t, m.Writing, "a crashed enqueue leaves its claim")
			assert.False(t, m.Sealed)

			seen := counted(t, env, "q")
			if tc.forget {
				natstest.Eventually(t, 60*time.Second, func() bool { return workMsgs(t, env) == 0 }, "workers drain what was stored")
				time.Sleep(400 * time.Millisecond) // past the dedup window
				env.Restart(t)
			}
			b, err := p.EnqueueBatch(context.Background(), "q", in, producer.WithBatch("crash"))
			require.NoError(t, err)
			r := waitDone(t, p, "crash")
			natstest.Eventually(t, 30*time.Second, func() bool { return seen.len() == n }, "every job processed: %d of %d", seen.len(), n)
			assert.Equal(t, n, r.Expected, "expected counts distinct jobs")
			assert.Equal(t, n, r.Completed)
			assert.Equal(t, b.MayRepeat, r.MayRepeat)
			assert.LessOrEqual(t, seen.duplicates(), r.MayRepeat, "every duplicate was reported")
			assert.LessOrEqual(t, r.MayRepeat, producer.DefaultWindow+1024, "within the documented bound")
			if !tc.forget {
				assert.Zero(t, seen.duplicates(), "inside the dedup window a re-run is exact")
			}
			t.Logf("re-run: enqueued %d, repeated %d, may repeat %d; processed twice: %d", b.Enqueued, b.Repeated, b.MayRepeat, seen.duplicates())

			b, err = p.EnqueueBatch(context.Background(), "q", in, producer.WithBatch("crash"))
			require.NoError(t, err)
			assert.Zero(t, b.Enqueued, "a further re-run changes nothing")
			assert.Equal(t, n, waitDone(t, p, "crash").Expected)
		})
	}
}

// Two enqueues of one batch at once: the later claims it, the earlier one
// stops with ErrTakenOver or finishes first; either way each job is stored
// once and counted once.
func TestConcurrentReRunsStayExact(t *testing.T) {
	t.Parallel()
	env, p := setup(t, topology.Options{}, "q")
	const n = 10000
	in := items("cc", n)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := p.EnqueueBatch(context.Background(), "q", in, producer.WithBatch("cc"))
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			require.True(t, errors.Is(err, batch.ErrTakenOver), "unexpected error: %v", err)
		}
	}
	// Whichever run was stopped, a last re-run completes the batch.
	_, err := p.EnqueueBatch(context.Background(), "q", in, producer.WithBatch("cc"))
	require.NoError(t, err)
	assert.Equal(t, uint64(n), workMsgs(t, env), "each job stored once")
	seen := counted(t, env, "q")
	r := waitDone(t, p, "cc")
	assert.Equal(t, n, r.Expected)
	natstest.Eventually(t, 30*time.Second, func() bool { return seen.len() == n }, "all processed")
	assert.Zero(t, seen.duplicates())
}
