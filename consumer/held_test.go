package consumer_test

import (
	"context"
	"fmt"
	"github.com/jetpool/jetpool/topology"
	"slices"
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

// These tests count runs by job ID, with each run's start and end, to prove
// invariant 3: a job the pool holds, started or not, is never redelivered
// while the pool is alive, so it never runs twice at once.

// run is one execution of a job's handler.
type run struct {
	pool       string
	attempt    int
	start, end time.Time
}

func (r run) String() string {
	return fmt.Sprintf("%s/attempt %d [%s, %s]", r.pool, r.attempt, r.start.Format("05.000"), r.end.Format("05.000"))
}

// runLog records every run of every job.
type runLog struct {
	mu   sync.Mutex
	runs map[string][]run
}

func newRunLog() *runLog { return &runLog{runs: map[string][]run{}} }

// handler returns a handler for pool that records its runs and spends d on
// each job (or less, when its context ends); warm-up jobs return at once.
func (l *runLog) handler(pool string, d time.Duration) jetpool.Handler {
	return jetpool.HandlerFunc(func(ctx context.Context, j *jetpool.Job) error {
		if j.Batch == warmBatch {
			return nil
		}
		r := run{pool: pool, attempt: j.Attempt, start: time.Now()}
		var err error
		select {
		case <-time.After(d):
		case <-ctx.Done():
			err = ctx.Err()
		}
		r.end = time.Now()
		l.mu.Lock()
		l.runs[j.ID] = append(l.runs[j.ID], r)
		l.mu.Unlock()
		return err
	})
}

// warmBatch holds warm-up jobs: the pool pulls ahead as many jobs as its
// workers finish in 10ms, so instant jobs queued first make it pull ahead
// all it may (Prefetch), as it does under a fast load.
const warmBatch = "warm"

func publishWarmUp(t *testing.T, env *natstest.Env, n int) {
	t.Helper()
	for i := range n {
		publish(t, env.JS, "q", warmBatch, fmt.Sprintf("warm-%04d", i), nil)
	}
}

// finished counts the jobs that ran to the end at least once.
func (l *runLog) finished() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.runs)
}

// check asserts that every job of ids ran exactly once, and in any case
// that no job has two runs overlapping in time.
func (l *runLog) check(t *testing.T, ids []string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var overlaps, repeats []string
	for id, runs := range l.runs {
		slices.SortFunc(runs, func(a, b run) int { return a.start.Compare(b.start) })
		if len(runs) > 1 {
			repeats = append(repeats, fmt.Sprint(id, runs))
		}
		for i := 1; i < len(runs); i++ {
			if runs[i].start.Before(runs[i-1].end) {
				overlaps = append(overlaps, fmt.Sprint(id, runs[i-1:i+1]))
			}
		}
	}
	assert.Empty(t, overlaps, "jobs that ran twice at the same time")
	assert.Empty(t, repeats, "jobs redelivered while their pool held them")
	for _, id := range ids {
		assert.Contains(t, l.runs, id, "job never ran")
	}
}

// Jobs run twice at once, reproduced: AckWait 2s, 5s jobs and a pull much
// larger than the pool's concurrency. The jobs waiting in the pool behind the running
// ones wait longer than AckWait; they are heartbeated too, so a second pool
// on the same queue never receives a redelivery of them.
func TestJobsLongerThanAckWaitNeverRunTwiceAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three rounds of 5s jobs")
	}
	env := setup(t, topology.Options{AckWait: 2 * time.Second}, "q")
	const jobs, concurrency = 24, 8
	publishWarmUp(t, env, 200)
	ids := publishN(t, env.JS, "q", "b1", jobs)
	log := newRunLog()
	// After the warm-up, the first pool holds every job at once: 8 run, 16
	// wait 5s or 10s.
	startPool(t, env, consumer.Options{Queue: "q", Concurrency: concurrency, Prefetch: 64}, log.handler("first", 5*time.Second))
	held := waitHeld(t, env, jobs)
	require.Greater(t, held, concurrency, "jobs wait in the first pool: %s", consumerState(t, env))
	// The second pool would take any job the server redelivers.
	startPool(t, env, consumer.Options{Queue: "q", Concurrency: concurrency}, log.handler("second", 5*time.Second))
	natstest.Eventually(t, 40*time.Second, func() bool { return streamMsgs(t, env.JS, names.WorkStream()) == 0 }, "work stream empty")
	log.check(t, ids)
}

// Pools under load with a short AckWait: many queued jobs, a load that turns
// from fast to slow, large pulls. Pulls are renewed while every worker is
// busy, and jobs pulled while the load was fast wait in each pool longer
// than AckWait; nothing is lost and nothing runs twice.
func TestStalledPullsUnderLoadLoseAndRepeatNothing(t *testing.T) {
	env := setup(t, topology.Options{AckWait: time.Second}, "q")
	const jobs = 400
	publishWarmUp(t, env, 400)
	ids := publishN(t, env.JS, "q", "b1", jobs)
	log := newRunLog()
	// Each pool holds 4 running and up to 64 waiting jobs: a waiting job
	// waits up to 64/4 × 100ms ≈ 1.6s, longer than AckWait.
	for _, name := range []string{"first", "second"} {
		startPool(t, env, consumer.Options{Queue: "q", Concurrency: 4, Prefetch: 64}, log.handler(name, 100*time.Millisecond))
	}
	natstest.Eventually(t, 60*time.Second, func() bool { return log.finished() == jobs }, "every job ran: %s", func() any { return consumerState(t, env) }())
	natstest.Eventually(t, 10*time.Second, func() bool { return streamMsgs(t, env.JS, names.WorkStream()) == 0 }, "work stream empty")
	log.check(t, ids)
}

// Stop returns at once every job fetched but not started, lets the running
// ones finish within the grace, and another pool then runs the returned jobs:
// each job runs exactly once.
func TestStopReturnsHeldJobsToAnotherPool(t *testing.T) {
	env := setup(t, topology.Options{}, "q")
	const jobs, concurrency, prefetch = 30, 8, 20
	publishWarmUp(t, env, 200)
	ids := publishN(t, env.JS, "q", "b1", jobs)
	log := newRunLog()
	finish := make(chan struct{})
	var started, warmed atomic.Int64
	first, err := consumer.New(env.JS, consumer.Options{Queue: "q", Concurrency: concurrency, Prefetch: prefetch, Logger: env.Log, Handler: jetpool.HandlerFunc(func(ctx context.Context, j *jetpool.Job) error {
		if j.Batch == warmBatch {
			warmed.Add(1)
			return nil
		}
		started.Add(1)
		<-finish // ignores ctx: the grace must let it finish
		return log.handler("first", 0).Handle(ctx, j)
	})})
	require.NoError(t, err)
	require.NoError(t, first.Start(context.Background()))
	natstest.Eventually(t, 10*time.Second, func() bool { return started.Load() == concurrency }, "the first pool runs %d jobs", concurrency)
	held := waitHeld(t, env, concurrency+prefetch)
	require.Greater(t, held, concurrency, "jobs wait in the first pool: %s", consumerState(t, env))

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		stopped <- first.Stop(ctx)
	}()
	// The held jobs go back at once, while the running ones still run: a
	// second pool gets them well before the 30s AckWait would bring them.
	natstest.Eventually(t, 5*time.Second, func() bool { return first.Stats().Released >= uint64(held-concurrency) }, "held jobs returned: %s", func() any { return consumerState(t, env) }())
	startPool(t, env, consumer.Options{Queue: "q", Concurrency: 4}, log.handler("second", 0))
	natstest.Eventually(t, 10*time.Second, func() bool { return log.finished() == jobs-concurrency }, "the second pool runs the returned and the remaining jobs")
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) before its running jobs finished", err)
	default:
	}
	close(finish)
	require.NoError(t, <-stopped)
	// Warm-up jobs the first pool held but had not started went back too.
	assert.Equal(t, uint64(warmed.Load())+concurrency, first.Stats().Completed, "running jobs finish within the grace")
	assert.Equal(t, int64(concurrency), started.Load(), "no job starts once Stop began")
	natstest.Eventually(t, 5*time.Second, func() bool { return streamMsgs(t, env.JS, names.WorkStream()) == 0 }, "work stream empty")
	log.check(t, ids)
}

// waitHeld waits up to 5s for queue q's delivered and unacked jobs to reach
// want, all of them delivered since the warm-up, and returns how many there
// are. How many jobs a pool pulls ahead depends on how fast it saw the
// warm-up run, which a busy machine slows.
func waitHeld(t *testing.T, env *natstest.Env, want int) int {
	t.Helper()
	held := 0
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if held = ackPending(t, env); held >= want {
			break
		}
	}
	t.Logf("the first pool holds %d jobs (up to %d wanted)", held, want)
	return held
}

// ackPending is the number of jobs of queue q delivered and not yet acked.
func ackPending(t *testing.T, env *natstest.Env) int {
	t.Helper()
	c, err := env.JS.Consumer(context.Background(), names.WorkStream(), "q")
	require.NoError(t, err)
	info, err := c.Info(context.Background())
	require.NoError(t, err)
	return info.NumAckPending
}
