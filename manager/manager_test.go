package manager_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/batch"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/manager"
	"github.com/jetpool/jetpool/producer"
	"github.com/jetpool/jetpool/topology"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fixedSource(n int) manager.Source {
	return func(ctx context.Context) ([]producer.Item, error) {
		out := make([]producer.Item, n)
		for i := range out {
			out[i].Payload = []byte("item")
		}
		return out, nil
	}
}

// runManager runs m in the background; the returned function stops it and
// waits for Run to return.
func runManager(t *testing.T, m *manager.Manager) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				assert.NoError(t, err)
			case <-time.After(30 * time.Second):
				t.Error("manager did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestManagerWarnsOnOverrun(t *testing.T) {
	env := setup(t, topology.Options{}, "q")
	startPool(t, env, consumerCfg("q", 1), func(ctx context.Context, j *jetpool.Job) error {
		time.Sleep(150 * time.Millisecond)
		return nil
	})
	logs := &natstest.Buffer{}
	var reports []manager.CycleReport
	var mu sync.Mutex
	m, err := manager.New(env.JS, manager.Options{
		Name: "slow", Queue: "q", Interval: 200 * time.Millisecond, Source: fixedSource(2), Cycles: 2,
		Logger: natstest.BufferLogger(logs),
		OnCycle: func(r manager.CycleReport) {
			mu.Lock()
			reports = append(reports, r)
			mu.Unlock()
		},
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, m.Run(ctx))
	assert.Equal(t, uint64(2), m.Stats().Overruns)
	assert.Contains(t, logs.String(), "cycle has exceeded the interval time")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, reports, 2)
	for _, r := range reports {
		assert.True(t, r.Overrun)
		require.NotNil(t, r.Report)
		assert.Equal(t, 2, r.Report.Completed)
	}
	assert.NotEqual(t, reports[0].Batch, reports[1].Batch)
}

func TestManagerWithinIntervalDoesNotOverrun(t *testing.T) {
	env := setup(t, topology.Options{}, "q")
	startPool(t, env, consumerCfg("q", 4), func(ctx context.Context, j *jetpool.Job) error { return nil })
	m, err := manager.New(env.JS, manager.Options{
		Name: "fast", Queue: "q", Interval: time.Second, Source: fixedSource(3), Cycles: 3, Logger: env.Log,
	})
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, m.Run(context.Background()))
	assert.Equal(t, uint64(0), m.Stats().Overruns)
	assert.Equal(t, uint64(3), m.Stats().Cycles)
	assert.GreaterOrEqual(t, time.Since(start), 2*time.Second, "cycles start at most once per interval")
}

func TestSourceErrorIsRetriedNextCycle(t *testing.T) {
	env := setup(t, topology.Options{}, "q")
	startPool(t, env, consumerCfg("q", 4), func(ctx context.Context, j *jetpool.Job) error { return nil })
	var calls atomic.Int64
	m, err := manager.New(env.JS, manager.Options{
		Name: "flaky", Queue: "q", Interval: 50 * time.Millisecond, Cycles: 3, Logger: env.Log,
		Source: func(ctx context.Context) ([]producer.Item, error) {
			switch calls.Add(1) {
			case 1:
				return nil, errors.New("source unavailable")
			case 2:
				panic("source bug")
			}
			return []producer.Item{{Payload: []byte("x")}}, nil
		},
	})
	require.NoError(t, err)
	require.NoError(t, m.Run(context.Background()))
	assert.Equal(t, uint64(2), m.Stats().SourceErrors)
	assert.Equal(t, uint64(1), m.Stats().Cycles)
}

// Two managers of one name: only the leader runs cycles, so every cycle's
// batch is enqueued once.
func TestTwoManagersEnqueueEachCycleOnce(t *testing.T) {
	env := setup(t, topology.Options{LeaseTTL: time.Second}, "q")
	handled := &idSet{}
	var dupes atomic.Int64
	startPool(t, env, consumerCfg("q", 4), func(ctx context.Context, j *jetpool.Job) error {
		if handled.has(j.ID) {
			dupes.Add(1)
		}
		handled.add(j.ID)
		return nil
	})
	var mu sync.Mutex
	batches := map[string]int{}
	repeated := 0
	mk := func() *manager.Manager {
		m, err := manager.New(env.JS, manager.Options{
			Name: "twin", Queue: "q", Interval: 100 * time.Millisecond, Source: fixedSource(5), Logger: env.Log,
			OnCycle: func(r manager.CycleReport) {
				mu.Lock()
				defer mu.Unlock()
				batches[r.Batch]++
				if r.Report != nil && r.Report.Expected != 5 {
					repeated++
				}
			},
		})
		require.NoError(t, err)
		return m
	}
	a, b := mk(), mk()
	stopA, stopB := runManager(t, a), runManager(t, b)
	natstest.Eventually(t, 20*time.Second, func() bool { return handled.len() >= 40 }, "eight cycles ran")
	stopA()
	stopB()
	mu.Lock()
	defer mu.Unlock()
	for batch, n := range batches {
		assert.Equal(t, 1, n, "batch %s ran %d times", batch, n)
	}
	assert.Zero(t, repeated)
	assert.Zero(t, dupes.Load())
}

// Killing the leader's connection (as a crash would) hands the lead to the
// standby within two lease TTLs.
func TestStandbyTakesOverWhenLeaderDies(t *testing.T) {
	const ttl = 2 * time.Second
	env := setup(t, topology.Options{LeaseTTL: ttl}, "q")
	startPool(t, env, consumerCfg("q", 4), func(ctx context.Context, j *jetpool.Job) error { return nil })
	leaderConn, leaderJS := natstest.Connect(t, env.Server.ClientURL())
	leader, err := manager.New(leaderJS, manager.Options{
		Name: "ha", Queue: "q", Interval: 100 * time.Millisecond, Source: fixedSource(1), Logger: env.Log,
	})
	require.NoError(t, err)
	runManager(t, leader)
	natstest.Eventually(t, 10*time.Second, func() bool { return leader.Stats().Leader && leader.Stats().Cycles > 0 }, "first manager leads")

	standby, err := manager.New(env.JS, manager.Options{
		Name: "ha", Queue: "q", Interval: 100 * time.Millisecond, Source: fixedSource(1), Logger: env.Log,
	})
	require.NoError(t, err)
	runManager(t, standby)
	time.Sleep(ttl + ttl/2) // an observation window: the standby sees a live leader for more than a TTL
	require.False(t, standby.Stats().Leader, "standby must not lead while the leader renews")
	require.Zero(t, standby.Stats().Cycles)

	leaderConn.Close() // the leader can no longer renew, nor release
	died := time.Now()
	natstest.Eventually(t, 4*ttl, func() bool { return standby.Stats().Leader }, "standby takes over")
	took := time.Since(died)
	t.Logf("standby led %s after the leader died (lease TTL %s)", took, ttl)
	assert.Less(t, took, 2*ttl, "take-over within two TTLs")
	natstest.Eventually(t, 10*time.Second, func() bool { return standby.Stats().Cycles > 0 }, "the new leader runs cycles")
}

// A job that went dead in one cycle comes back in the next through the
// source, which offers every item not yet done.
func TestDeadJobComesBackNextCycle(t *testing.T) {
	env := setup(t, topology.Options{}, "q")
	done := &idSet{}
	var failedOnce atomic.Bool
	startPool(t, env, consumerCfg("q", 2), func(ctx context.Context, j *jetpool.Job) error {
		item := string(j.Payload)
		if item == "b" && failedOnce.CompareAndSwap(false, true) {
			return jetpool.Permanent(errors.New("b is broken this time"))
		}
		done.add(item)
		return nil
	})
	var mu sync.Mutex
	var reports []*batch.Report
	m, err := manager.New(env.JS, manager.Options{
		Name: "retry", Queue: "q", Interval: 50 * time.Millisecond, Cycles: 2, Logger: env.Log,
		Source: func(ctx context.Context) ([]producer.Item, error) {
			var out []producer.Item
			for _, it := range []string{"a", "b", "c"} {
				if !done.has(it) {
					out = append(out, producer.Item{ID: it, Payload: []byte(it)})
				}
			}
			return out, nil
		},
		OnCycle: func(r manager.CycleReport) { mu.Lock(); reports = append(reports, r.Report); mu.Unlock() },
	})
	require.NoError(t, err)
	require.NoError(t, m.Run(context.Background()))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, reports, 2)
	assert.Equal(t, 3, reports[0].Expected)
	assert.Equal(t, 1, reports[0].Dead)
	assert.Equal(t, 1, reports[1].Expected, "only the dead item comes back")
	assert.Equal(t, 1, reports[1].Completed)
	assert.Equal(t, 3, done.len())
}

func TestManagerOptionsAreValidated(t *testing.T) {
	t.Parallel()
	env := setup(t, topology.Options{})
	for _, tc := range []struct {
		cfg  manager.Options
		want string
	}{
		{manager.Options{Name: "a.b", Queue: "q", Interval: time.Second, Source: fixedSource(1)}, `"a.b"`},
		{manager.Options{Name: "m", Queue: "q*", Interval: time.Second, Source: fixedSource(1)}, `"q*"`},
		{manager.Options{Name: "m", Queue: "q", Interval: -time.Second, Source: fixedSource(1)}, "manager: Options.Interval is -1s"},
		{manager.Options{Name: "m", Queue: "q", Interval: time.Second, Cycles: -1, Source: fixedSource(1)}, "manager: Options.Cycles is -1"},
		{manager.Options{Name: "m", Queue: "q", Interval: time.Second, LeaseTTL: -time.Second, Source: fixedSource(1)}, "manager: Options.LeaseTTL is -1s"},
		{manager.Options{Name: "m", Queue: "q", Interval: time.Second}, "Options.Source is nil"},
	} {
		_, err := manager.New(env.JS, tc.cfg)
		require.Error(t, err)
		assert.True(t, strings.Contains(err.Error(), tc.want), "%v lacks %q", err, tc.want)
	}
}

// A manager started before provisioning waits, saying what is missing,
// and runs its cycles once the topology exists; it creates nothing itself.
func TestManagerWaitsForProvisioning(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	logs := &natstest.Buffer{}
	reports := make(chan manager.CycleReport, 1)
	m, err := manager.New(env.JS, manager.Options{
		Name: "late", Queue: "q", Interval: time.Second, Cycles: 1, Logger: natstest.BufferLogger(logs),
		Source:  func(context.Context) ([]producer.Item, error) { return []producer.Item{{Payload: []byte("x")}}, nil },
		OnCycle: func(r manager.CycleReport) { reports <- r },
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- m.Run(ctx) }()
	natstest.Eventually(t, 10*time.Second, func() bool { return strings.Contains(logs.String(), "waiting for the jetpool topology") }, "a waiting log line")
	_, err = env.JS.Stream(ctx, jetpool.DefaultNames().WorkStream())
	require.ErrorIs(t, err, jetstream.ErrStreamNotFound, "the manager created nothing")

	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{}, "q"))
	startPool(t, env, consumerCfg("q", 2), func(context.Context, *jetpool.Job) error { return nil })
	require.NoError(t, <-ran)
	r := <-reports
	require.NoError(t, r.Err)
	assert.True(t, r.Report.Done)
	assert.Equal(t, 1, r.Report.Completed)
}

// A second manager that leads inside an interval its predecessor already
// enqueued resumes the cycle when its source gives the same jobs, and says
// why it does not run when the source gives others.
func TestManagerReRunInsideTheInterval(t *testing.T) {
	t.Parallel()
	env := setup(t, topology.Options{}, "q")
	startPool(t, env, consumerCfg("q", 4), func(context.Context, *jetpool.Job) error { return nil })
	source := func(ids ...string) manager.Source {
		return func(context.Context) ([]producer.Item, error) {
			out := make([]producer.Item, len(ids))
			for i, id := range ids {
				out[i] = producer.Item{ID: id, Payload: []byte(id)}
			}
			return out, nil
		}
	}
	runOnce := func(src manager.Source, logs *natstest.Buffer) manager.CycleReport {
		var rep manager.CycleReport
		m, err := manager.New(env.JS, manager.Options{
			Name: "daily", Queue: "q", Interval: 24 * time.Hour, Cycles: 1, Source: src, Logger: natstest.BufferLogger(logs),
			OnCycle: func(r manager.CycleReport) { rep = r },
		})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		require.NoError(t, m.Run(ctx))
		return rep
	}
	first := runOnce(source("a", "b", "c"), &natstest.Buffer{})
	require.NoError(t, first.Err)
	require.Equal(t, 3, first.Report.Completed)

	same := runOnce(source("a", "b", "c"), &natstest.Buffer{})
	require.NoError(t, same.Err)
	assert.Equal(t, first.Batch, same.Batch, "the same interval")
	assert.Equal(t, 3, same.Report.Expected, "resumed, not duplicated")

	logs := &natstest.Buffer{}
	other := runOnce(source("x", "y"), logs)
	require.ErrorIs(t, other.Err, producer.ErrBatchMismatch)
	assert.Contains(t, logs.String(), "enqueued already, with other jobs")
}
