package jetpooltest

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/batch"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

// WorkOptions configure the pool [Work] runs. The zero value gives the
// defaults.
type WorkOptions struct {
	// Concurrency is how many jobs run at once (4).
	Concurrency int
	// MaxAttempts is how many runs a job gets before it is dead (5).
	MaxAttempts int
	// Backoff is the delay before a failed job runs again; 10ms growing to
	// 100ms, shorter than a pool's default so that tests of retries are
	// quick.
	Backoff consumer.Backoff
	// Stages are the handlers of the other queues the batch's jobs are
	// forwarded to, by queue: the batch is done only once they are run
	// too, and Work runs a pool for each.
	Stages map[string]jetpool.Handler
	// Timeout bounds the whole run (30s): the test fails when the batch is
	// not done by then.
	Timeout time.Duration
}

// Work runs a real worker pool for queue with h, and one for each of
// opts.Stages, until the batch batchID is
// done (nothing of it is left in the work stream: every job completed or
// dead), stops the pool, and returns the batch's report. The batch must
// have been enqueued with producer.EnqueueBatch, which records it.
func Work(tb testing.TB, js jetstream.JetStream, queue, batchID string, h jetpool.Handler, opts WorkOptions) *batch.Report {
	tb.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Timeout < 0 {
		tb.Fatalf("jetpooltest: WorkOptions.Timeout %s is negative", opts.Timeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	log := natstest.Logger(tb, slog.LevelWarn)
	handlers := map[string]jetpool.Handler{queue: h}
	maps.Copy(handlers, opts.Stages)
	var pools []*consumer.Pool
	stop := func() {
		sctx, scancel := context.WithTimeout(context.Background(), callTimeout)
		defer scancel()
		for _, pool := range pools {
			if err := pool.Stop(sctx); err != nil {
				tb.Errorf("jetpooltest: %v", err)
			}
		}
	}
	tb.Cleanup(stop) // when the test fails before the batch is done
	for _, q := range slices.Sorted(maps.Keys(handlers)) {
		pool := newPool(tb, js, q, handlers[q], opts, log)
		if err := pool.Start(ctx); err != nil {
			tb.Fatalf("jetpooltest: start a pool on queue %s: %v", q, err)
		}
		pools = append(pools, pool)
	}
	bc, err := batch.New(js, batch.Options{Logger: log})
	if err != nil {
		tb.Fatalf("jetpooltest: %v", err)
	}
	r, err := bc.Wait(ctx, batchID, batch.WithPolling(10*time.Millisecond, 100*time.Millisecond))
	if err != nil {
		tb.Fatalf("jetpooltest: wait for batch %s: %v", batchID, err)
	}
	stop()
	return r
}

// newPool is the one place this package builds a worker pool.
func newPool(tb testing.TB, js jetstream.JetStream, queue string, h jetpool.Handler, opts WorkOptions, log *slog.Logger) *consumer.Pool {
	tb.Helper()
	if opts.Backoff == (consumer.Backoff{}) {
		opts.Backoff = consumer.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond}
	}
	pool, err := consumer.New(js, consumer.Options{Queue: queue, Concurrency: opts.Concurrency,
		MaxAttempts: opts.MaxAttempts, Backoff: opts.Backoff, Logger: log, Handler: h})
	if err != nil {
		tb.Fatalf("jetpooltest: new pool on queue %s: %v", queue, err)
	}
	return pool
}
