package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/topology"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var fastBackoff = consumer.Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}

func TestConcurrencyNeverExceedsLimit(t *testing.T) {
	t.Parallel()
	env := setup(t, topology.Options{}, "q")
	const jobs, limit = 40, 3
	publishN(t, env.JS, "q", "b1", jobs)
	var running, peak, done atomic.Int64
	startPool(t, env, consumer.Options{Queue: "q", Concurrency: limit}, jetpool.HandlerFunc(func(ctx context.Context, j *jetpool.Job) error {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
		running.Add(-1)
		done.Add(1)
		return nil
	}))
	natstest.Eventually(t, 90*time.Second, func() bool { return done.Load() == jobs }, "all jobs done: %d done; %s", func() any { return done.Load() }(), consumerState(t, env))
	assert.LessOrEqual(t, peak.Load(), int64(limit))
	assert.GreaterOrEqual(t, peak.Load(), int64(2), "the pool should run jobs in parallel")
	natstest.Eventually(t, 5*time.Second, func() bool { return streamMsgs(t, env.JS, names.WorkStream()) == 0 }, "work stream empty")
}

func TestJobFailingTwiceIsAckedOnAttemptThree(t *testing.T) {
	t.Parallel()
	env := setup(t, topology.Options{}, "q")
	publish(t, env.JS, "q", "b1", "flaky", []byte("x"))
	var mu sync.Mutex
	var attempts []int
	p := startPool(t, env, consumer.Options{Queue: "q", Backoff: fastBackoff}, jetpool.HandlerFunc(func(ctx context.Context, j *jetpool.Job) error {
		mu.Lock()
		attempts = append(attempts, j.Attempt)
		mu.Unlock()
		if j.Attempt < 3 {
			return errors.New("not yet")
		}
		return nil
	}))
	natstest.Eventually(t, 10*time.Second, func() bool { return p.Stats().Completed == 1 }, "job completed")
	mu.Lock()
	assert.Equal(t, []int{1, 2, 3}, attempts)
	mu.Unlock()
	assert.Equal(t, uint64(2), p.Stats().Retried)
	natstest.Eventually(t, 5*time.Second, func() bool { return streamMsgs(t, env.JS, names.WorkStream()) == 0 }, "acked job removed")
}

func TestPoisonJobIsDeadLetteredAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	env := setup(t, topology.Options{}, "q")
	publish(t, env.JS, "q", "b1", "poison", []byte("bad payload"))
	var calls atomic.Int64
	p := startPool(t, env, consumer.Options{Queue: "q", MaxAttempts: 3, Backoff: fastBackoff}, jetpool.HandlerFunc(func(ctx context.Context, j *jetpool.Job) error {
		calls.Add(1)
		return errors.New("cannot parse")
	}))
	natstest.Eventually(t, 10*time.Second, func() bool { return p.Stats().Dead == 1 }, "job dead")
	assert.Equal(t, int64(3), calls.Load())
	dead := deadLetters(t, env.JS)
	require.Len(t, dead, 1)
	assert.Equal(t, "bad payload", string(dead[0].Data()))
	assert.Equal(t, names.DeadSubject("q", "b1"), dead[0].Subject())
	assert.Equal(t, "poison", dead[0].Headers().Get(jetpool.HeaderJobID))
	assert.Equal(t, "3", dead[0].Headers().Get(jetpool.HeaderAttempts))
	assert.Contains(t, dead[0].Headers().Get(jetpool.HeaderError), "cannot parse")
	natstest.Eventually(t, 5*time.Second, func() bool { return streamMsgs(t, env.JS, names.WorkStream()) == 0 }, "terminated job removed")
}

func TestPermanentErrorDeadLettersAtOnce(t *testing.T) {
	t.Parallel()
	env := setup(t, topology.Options{}, "q")
	publish(t, env.JS, "q", "b1", "perm", []byte("x"))
	var calls atomic.Int64
	p := startPool(t, env, consumer.Options{Queue: "q", MaxAttempts: 5, Backoff: fastBackoff}, jetpool.HandlerFunc(func(ctx context.Context, j *jetpool.Job) error {
		calls.Add(1)
		return jetpool.Permanent(errors.New("unsupported format"))
	}))
	natstest.Eventually(t, 10*time.Second, func() bool { return p.Stats().Dead == 1 }, "job dead")
	assert.Equal(t, int64(1), calls.Load())
	dead := deadLetters(t, env.JS)
	require.Len(t, dead, 1)
	assert.Contains(t, dead[0].Headers().Get(jetpool.HeaderError), "unsupported format")
}

func TestPanicCountsAsFailedAttempt(t *testing.T) {
	t.Parallel()
	env := setup(t, topology.Options{}, "q")
	publish(t, env.JS, "q", "b1", "panicky", []byte("x"))
	p := startPool(t, env, consumer.Options{Queue: "q", Backoff: fastBackoff}, jetpool.HandlerFunc(func(ctx context.Context, j *jetpool.Job) error {
		if j.Attempt == 1 {
			panic("boom")
		}
		return nil
	}))
	natstest.Eventually(t, 10*time.Second, func() bool { return p.Stats().Completed == 1 }, "job completed after panic")
	s := p.Stats()
	assert.Equal(t, uint64(1), s.Panics)
	assert.Equal(t, uint64(1), s.Retried)
}

func TestTimeoutCancelsHandler(t *testing.T) {
	t.Parallel()
	env := setup(t, topology.Options{}, "q")
	publish(t, env.JS, "q", "b1", "slow", []byte("x"))
	p := startPool(t, env, consumer.Options{Queue: "q", MaxAttempts: 1, Timeout: 100 * time.Millisecond}, jetpool.HandlerFunc(func(ctx context.Context, j *jetpool.Job) error {
		<-ctx.Done()
		return ctx.Err()
	}))
	natstest.Eventually(t, 10*time.Second, func() bool { return p.Stats().Dead == 1 }, "timed-out job dead")
	dead := deadLetters(t, env.JS)
	require.Len(t, dead, 1)
	assert.Contains(t, dead[0].Headers().Get(jetpool.HeaderError), "deadline exceeded")
}

func TestLongJobUnderShortAckWaitIsDeliveredOnce(t *testing.T) {
	env := setup(t, topology.Options{AckWait: time.Second}, "q")
	publish(t, env.JS, "q", "b1", "long", []byte("x"))
	var deliveries atomic.Int64
	p := startPool(t, env, consumer.Options{Queue: "q", Concurrency: 2}, jetpool.HandlerFunc(func(ctx context.Context, j *jetpool.Job) error {
		deliveries.Add(1)
		select {
		case <-time.After(3 * time.Second):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}))
	natstest.Eventually(t, 15*time.Second, func() bool { return p.Stats().Completed == 1 }, "long job completed")
	assert.Equal(t, int64(1), deliveries.Load())
}

// abandon takes one job from the queue's consumer and never settles it, as a
// worker killed mid-job would.
func abandon(t *testing.T, js jetstream.JetStream, queue string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, names.WorkStream(), queue)
	require.NoError(t, err)
	b, err := c.Fetch(1, jetstream.FetchMaxWait(3*time.Second))
	require.NoError(t, err)
	n := 0
	for range b.Messages() {
		n++
	}
	require.Equal(t, 1, n)
}

func TestCrashedWorkersJobComesBackWithinAckWait(t *testing.T) {
	env := setup(t, topology.Options{AckWait: time.Second}, "q")
	publish(t, env.JS, "q", "b1", "orphan", []byte("x"))
	abandon(t, env.JS, "q")
	abandoned := time.Now()
	var attempt atomic.Int64
	p := startPool(t, env, consumer.Options{Queue: "q"}, jetpool.HandlerFunc(func(ctx context.Context, j *jetpool.Job) error {
		attempt.Store(int64(j.Attempt))
		return nil
	}))
	natstest.Eventually(t, 10*time.Second, func() bool { return p.Stats().Completed == 1 }, "orphaned job completed")
	assert.Equal(t, int64(2), attempt.Load())
	assert.Less(t, time.Since(abandoned), 5*time.Second)
}

func TestDeliveryPastMaxAttemptsIsDeadWithoutRunning(t *testing.T) {
	t.Parallel()
	env := setup(t, topology.Options{AckWait: 500 * time.Millisecond}, "q")
	publish(t, env.JS, "q", "b1", "died-last", []byte("x"))
	abandon(t, env.JS, "q") // the worker died during attempt 1 of 1
	var calls atomic.Int64
	p := startPool(t, env, consumer.Options{Queue: "q", MaxAttempts: 1}, jetpool.HandlerFunc(func(ctx context.Context, j *jetpool.Job) error {
		calls.Add(1)
		return nil
	}))
	natstest.Eventually(t, 10*time.Second, func() bool { return p.Stats().Dead == 1 }, "job dead")
	assert.Equal(t, int64(0), calls.Load())
	dead := deadLetters(t, env.JS)
	require.Len(t, dead, 1)
	assert.Contains(t, dead[0].Headers().Get(jetpool.HeaderError), "max attempts exceeded")
}

func TestStoppingUnderLoadLosesNothing(t *testing.T) {
	t.Parallel()
	env := setup(t, topology.Options{}, "q")
	const jobs = 300
	ids := publishN(t, env.JS, "q", "b1", jobs)
	var mu sync.Mutex
	seen := map[string]int{}
	handler := jetpool.HandlerFunc(func(ctx context.Context, j *jetpool.Job) error {
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		seen[j.ID]++
		mu.Unlock()
		return nil
	})
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }

	first, err := consumer.New(env.JS, consumer.Options{Queue: "q", Concurrency: 8, Logger: env.Log, Handler: handler})
	require.NoError(t, err)
	require.NoError(t, first.Start(context.Background()))
	natstest.Eventually(t, 10*time.Second, func() bool { return count() >= 50 }, "first pool under way")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, first.Stop(ctx))
	stoppedAt := count()
	require.Less(t, stoppedAt, jobs, "the first pool should stop before finishing")

	startPool(t, env, consumer.Options{Queue: "q", Concurrency: 8}, handler)
	natstest.Eventually(t, 20*time.Second, func() bool { return count() == jobs }, "second pool finishes every remaining job")
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		assert.GreaterOrEqual(t, seen[id], 1, id)
	}
	natstest.Eventually(t, 5*time.Second, func() bool { return streamMsgs(t, env.JS, names.WorkStream()) == 0 }, "work stream empty")
}

func TestRedeliveredJobForwardsOnce(t *testing.T) {
	t.Parallel()
	env := setup(t, topology.Options{}, "stage1", "stage2")
	in := nats.NewMsg(names.JobSubject("stage1", "b1"))
	in.Data = []byte("in")
	in.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	_, err := env.JS.PublishMsg(context.Background(), in, jetstream.WithMsgID("src"))
	require.NoError(t, err)
	startPool(t, env, consumer.Options{Queue: "stage1", Backoff: fastBackoff}, jetpool.HandlerFunc(func(ctx context.Context, j *jetpool.Job) error {
		if _, err := j.Forward(ctx, "stage2", []byte("out"), nil); err != nil {
			return err
		}
		if j.Attempt == 1 {
			return errors.New("failed after forwarding")
		}
		return nil
	}))
	var mu sync.Mutex
	var got []*jetpool.Job
	startPool(t, env, consumer.Options{Queue: "stage2"}, jetpool.HandlerFunc(func(ctx context.Context, j *jetpool.Job) error {
		mu.Lock()
		got = append(got, j)
		mu.Unlock()
		return nil
	}))
	natstest.Eventually(t, 10*time.Second, func() bool {
		return streamMsgs(t, env.JS, names.WorkStream()) == 0 && func() bool { mu.Lock(); defer mu.Unlock(); return len(got) > 0 }()
	}, "both stages done")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 1, "a redelivered job must forward once")
	assert.Equal(t, consumer.ForwardID("src", "stage2", 0), got[0].ID)
	assert.Equal(t, "b1", got[0].Batch)
	assert.Equal(t, "out", string(got[0].Payload))
	assert.Equal(t, "src", got[0].Headers.Get(jetpool.HeaderParent))
	assert.Equal(t, in.Header.Get("traceparent"), got[0].Headers.Get("traceparent"), "the trace continues")
}

func TestPoolResumesAfterBrokerRestart(t *testing.T) {
	env := setup(t, topology.Options{AckWait: 2 * time.Second}, "q")
	var done atomic.Int64
	startPool(t, env, consumer.Options{Queue: "q"}, jetpool.HandlerFunc(func(ctx context.Context, j *jetpool.Job) error {
		done.Add(1)
		return nil
	}))
	publishN(t, env.JS, "q", "before", 5)
	natstest.Eventually(t, 10*time.Second, func() bool { return done.Load() == 5 }, "jobs before restart")
	env.Restart(t)
	natstest.Eventually(t, 10*time.Second, func() bool { return env.Conn.IsConnected() }, "client reconnected")
	for i := range 5 {
		publish(t, env.JS, "q", "after", "after-"+string(rune('a'+i)), []byte("x"))
	}
	natstest.Eventually(t, 30*time.Second, func() bool { return done.Load() == 10 }, "jobs after restart processed")
}

func TestOptionsAreValidated(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	h := jetpool.HandlerFunc(func(context.Context, *jetpool.Job) error { return nil })
	for _, tc := range []struct {
		cfg  consumer.Options
		want string
	}{
		{consumer.Options{Queue: "a.b"}, `queue "a.b"`},
		{consumer.Options{Queue: ""}, "queue is empty"},
		{consumer.Options{Queue: "q", Concurrency: -1}, "concurrency -1"},
		{consumer.Options{Queue: "q", MaxAttempts: -2}, "max attempts -2"},
		{consumer.Options{Queue: "q", Backoff: consumer.Backoff{Initial: time.Second, Max: time.Millisecond}}, "backoff max 1ms"},
	} {
		tc.cfg.Handler = h
		_, err := consumer.New(env.JS, tc.cfg)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
	}
}

func TestBackoffGrowsWithinBounds(t *testing.T) {
	b := consumer.Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 10: time.Second} {
		for range 50 {
			d := b.Delay(attempt)
			assert.GreaterOrEqual(t, d, want/2)
			assert.LessOrEqual(t, d, want)
		}
	}
}

// A pool never holds more unacknowledged jobs than Concurrency+Prefetch,
// however many are waiting: with every worker busy, the server sees at most
// that many jobs delivered and unacknowledged.
func TestUnackedJobsStayWithinConcurrencyPlusPrefetch(t *testing.T) {
	t.Parallel()
	env := setup(t, topology.Options{}, "q")
	publishN(t, env.JS, "q", "b1", 40)
	const concurrency, prefetch = 3, 2
	release := make(chan struct{})
	var running, done atomic.Int64
	startPool(t, env, consumer.Options{Queue: "q", Concurrency: concurrency, Prefetch: prefetch}, jetpool.HandlerFunc(func(ctx context.Context, j *jetpool.Job) error {
		running.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		done.Add(1)
		return nil
	}))
	ctx := context.Background()
	c, err := env.JS.Consumer(ctx, names.WorkStream(), "q")
	require.NoError(t, err)
	unacked := func() int {
		info, err := c.Info(ctx)
		require.NoError(t, err)
		return info.NumAckPending
	}
	natstest.Eventually(t, 10*time.Second, func() bool { return running.Load() == concurrency && unacked() > concurrency },
		"every worker busy and a job prefetched")
	for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); {
		require.LessOrEqual(t, unacked(), concurrency+prefetch, "unacked jobs held by the pool")
	}
	require.Equal(t, int64(concurrency), running.Load())
	close(release)
	natstest.Eventually(t, 10*time.Second, func() bool { return done.Load() == 40 }, "all jobs done")
}

// A handler that ignores its context cannot be stopped; Stop says so
// instead of hanging, and the pool finishes stopping once the handler returns.
func TestStopReportsHandlersIgnoringContext(t *testing.T) {
	t.Parallel()
	env := setup(t, topology.Options{}, "q")
	publish(t, env.JS, "q", "b1", "stubborn", nil)
	release := make(chan struct{})
	var started atomic.Bool
	p, err := consumer.New(env.JS, consumer.Options{Queue: "q", ShutdownGrace: 50 * time.Millisecond, Logger: env.Log, Handler: jetpool.HandlerFunc(func(ctx context.Context, j *jetpool.Job) error {
		started.Store(true)
		<-release
		return nil
	})})
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	natstest.Eventually(t, 10*time.Second, started.Load, "job started")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = p.Stop(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 jobs still running")
	close(release)
	select {
	case <-p.Stopped():
	case <-time.After(10 * time.Second):
		t.Fatal("pool did not finish stopping")
	}
	require.NoError(t, p.Stop(context.Background()))
}

// consumerState describes queue q's consumer for a failure message.
func consumerState(t *testing.T, env *natstest.Env) string {
	c, err := env.JS.Consumer(context.Background(), names.WorkStream(), "q")
	if err != nil {
		return err.Error()
	}
	i, err := c.Info(context.Background())
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("pending %d, ack pending %d, waiting %d, delivered %d, ack floor %d", i.NumPending, i.NumAckPending, i.NumWaiting, i.Delivered.Consumer, i.AckFloor.Consumer)
}
