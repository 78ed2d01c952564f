package e2e_test

// Process tests of the producer side under real faults: `jetpool enqueue -`
// killed with SIGKILL mid-stream and re-run, a broker restart, a full
// stream, and a cluster losing its stream leader. Jobs are counted by ID by
// an HTTP endpoint the workers call, independently of jetpool's report.

import (
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/internal/proctest"
	"github.com/jetpool/jetpool/producer"
	"github.com/jetpool/jetpool/topology"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// batchJSON is what `batch show --json` prints.
type batchJSON struct {
	Expected    int  `json:"expected"`
	Completed   int  `json:"completed"`
	Pending     int  `json:"pending"`
	NotEnqueued int  `json:"not_enqueued"`
	MayRepeat   int  `json:"may_repeat"`
	Sealed      bool `json:"sealed"`
	Done        bool `json:"done"`
}

func showBatch(t *testing.T, url, batch string) batchJSON {
	t.Helper()
	out, code := proctest.Run(t, url, "", "batch", "show", batch, "--json")
	require.Equal(t, 0, code, out)
	var r batchJSON
	require.NoError(t, json.Unmarshal([]byte(out), &r), out)
	return r
}

// workMsgs reads how many jobs the work stream holds.
func workMsgs(env *natstest.Env) uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := env.JS.Stream(ctx, jetpool.DefaultNames().WorkStream())
	if err != nil {
		return 0
	}
	return s.CachedInfo().State.Msgs
}

// killMidStream starts `enqueue -` of input and sends it SIGKILL once the
// work stream holds at least after jobs.
func killMidStream(t *testing.T, env *natstest.Env, input, queue, batch string, after uint64) {
	t.Helper()
	p := proctest.Start(t, env.Server.ClientURL(), strings.NewReader(input), "enqueue", queue, "-", "--batch", batch)
	natstest.Eventually(t, time.Minute, func() bool { return workMsgs(env) >= after }, "the enqueue publishes")
	require.NoError(t, p.Cmd.Process.Signal(syscall.SIGKILL))
	p.Wait(t, 10*time.Second)
	r := showBatch(t, env.Server.ClientURL(), batch)
	require.False(t, r.Sealed, "a killed enqueue leaves its batch unsealed: %+v", r)
}

func TestEnqueueKilledThenReRun(t *testing.T) {
	const n = 40000
	for _, tc := range []struct {
		name   string
		dedup  time.Duration
		forget func(t *testing.T, env *natstest.Env)
	}{
		{name: "inside the dedup window", dedup: 2 * time.Minute},
		{name: "after the dedup window", dedup: 500 * time.Millisecond, forget: func(*testing.T, *natstest.Env) {
			time.Sleep(time.Second) // the window is a duration, not a condition
		}},
		{name: "after a broker restart", dedup: 2 * time.Minute, forget: func(t *testing.T, env *natstest.Env) {
			env.Restart(t)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := natstest.Start(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{Duplicates: tc.dedup}, "q"))
			url := env.Server.ClientURL()
			input, ids := proctest.Lines("b4", n)
			killMidStream(t, env, input, "q", "b4", n/4)

			rec, hook := proctest.NewRecorder(t, 0)
			proctest.Start(t, url, nil, "work", "--queue", "q", "--concurrency", "32", "--http", hook)
			if tc.forget != nil {
				// What was stored runs before the re-run, which JetStream
				// then no longer remembers.
				natstest.Eventually(t, 2*time.Minute, func() bool { return workMsgs(env) == 0 && rec.Count() > 0 }, "workers drain the stream")
				tc.forget(t, env)
			}
			out, code := proctest.Run(t, url, input, "enqueue", "q", "-", "--batch", "b4")
			require.Equal(t, 0, code, out)
			r, code := proctest.WaitBatch(t, url, "b4")
			require.Equal(t, 0, code)
			natstest.Eventually(t, time.Minute, func() bool { return rec.Count() == n }, "every line processed: %d of %d", rec.Count(), n)
			rec.Check(t, ids)
			shown := showBatch(t, url, "b4")
			dupes := rec.Duplicates()
			t.Logf("re-run %s: expected %d, may_repeat %d, processed twice %d", tc.name, r.Expected, shown.MayRepeat, dupes)
			assert.Equal(t, n, r.Expected, "expected counts distinct lines")
			assert.Equal(t, n, r.Completed)
			assert.LessOrEqual(t, dupes, shown.MayRepeat, "every duplicate was reported")
			assert.LessOrEqual(t, shown.MayRepeat, producer.DefaultWindow+1024, "within the documented bound")
			if tc.forget == nil {
				assert.Zero(t, dupes, "inside the dedup window a re-run is exact")
			}

			// A further re-run changes nothing.
			out, code = proctest.Run(t, url, input, "enqueue", "q", "-", "--batch", "b4")
			require.Equal(t, 0, code, out)
			again := showBatch(t, url, "b4")
			assert.Equal(t, n, again.Expected)
			assert.Equal(t, shown.MayRepeat, again.MayRepeat)
			assert.Equal(t, dupes, rec.Duplicates())
		})
	}
}

// On a full stream (Discard: New) the enqueue names the refused lines and
// exits 1; re-running it while workers drain completes the batch exactly.
func TestEnqueueOnFullStreamCompletesByReRuns(t *testing.T) {
	t.Parallel()
	const n = 5000
	url := proctest.StartBroker(t, topology.Options{MaxMsgs: 1000}, "q")
	input, ids := proctest.Lines("full", n)
	out, code := proctest.Run(t, url, input, "enqueue", "q", "-", "--batch", "full")
	require.Equal(t, 1, code, "a refused line fails the enqueue")
	assert.Equal(t, "full", strings.TrimSpace(out))
	assert.Equal(t, 1000, showBatch(t, url, "full").Expected)

	rec, hook := proctest.NewRecorder(t, 0)
	proctest.Start(t, url, nil, "work", "--queue", "q", "--concurrency", "16", "--http", hook)
	runs := 1
	for ; code != 0; runs++ {
		require.Less(t, runs, 100)
		out, code = proctest.Run(t, url, input, "enqueue", "q", "-", "--batch", "full")
		require.Contains(t, []int{0, 1}, code, out)
	}
	r, code := proctest.WaitBatch(t, url, "full")
	require.Equal(t, 0, code)
	natstest.Eventually(t, time.Minute, func() bool { return rec.Count() == n }, "every line processed")
	rec.Check(t, ids)
	assert.Equal(t, n, r.Expected)
	assert.Zero(t, rec.Duplicates())
	assert.Zero(t, showBatch(t, url, "full").MayRepeat)
	t.Logf("%d runs through a 1,000-message stream", runs)
}

// `jetpool enqueue -` and `jetpool batch wait` against a three-node R3
// cluster whose work stream leader is stopped mid-way.
func TestEnqueueAndWaitProcessesAcrossLeaderLoss(t *testing.T) {
	c := natstest.StartCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, c.JS, topology.Options{Replicas: 3}, "q"))
	url := c.URL()
	stored := func() uint64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := c.JS.Stream(ctx, jetpool.DefaultNames().WorkStream())
		if err != nil {
			return 0
		}
		return s.CachedInfo().State.Msgs
	}

	const n = 50000
	input, ids := proctest.Lines("lf", n)
	enq := proctest.Start(t, url, strings.NewReader(input), "enqueue", "q", "-", "--batch", "lf")
	natstest.Eventually(t, 2*time.Minute, func() bool { return stored() >= n/5 }, "the enqueue publishes")
	leader := c.StreamLeader(t, jetpool.DefaultNames().WorkStream())
	killed := time.Now()
	c.Stop(t, leader)
	require.Equal(t, 0, enq.Wait(t, 3*time.Minute), "the enqueue rides out the leader change: %s", enq.Stderr.String())
	t.Logf("enqueue of %d lines exited 0 %s after leader %s stopped", n, time.Since(killed).Round(time.Millisecond), leader.Name)
	assert.Equal(t, uint64(n), stored(), "each line stored once")

	// batch wait across a second leader loss, with workers running.
	c.Restart(t, leader)
	rec, hook := proctest.NewRecorder(t, 0)
	proctest.Start(t, url, nil, "work", "--queue", "q", "--concurrency", "32", "--http", hook)
	wait := proctest.Start(t, url, nil, "batch", "wait", "lf", "--json", "--timeout", "5m")
	natstest.Eventually(t, 2*time.Minute, func() bool { return rec.Count() >= n/5 }, "work under way")
	leader = c.StreamLeader(t, jetpool.DefaultNames().WorkStream())
	c.Stop(t, leader)
	code := wait.Wait(t, 5*time.Minute)
	finished := time.Now()
	require.Equal(t, 0, code, wait.Stderr.String())
	var r proctest.Report
	require.NoError(t, json.Unmarshal([]byte(wait.Stdout.String()), &r))
	rec.Check(t, ids)
	assert.Equal(t, n, rec.Count())
	assert.Equal(t, n, r.Expected)
	assert.Equal(t, n, r.Completed)
	lag := finished.Sub(rec.Last())
	t.Logf("batch wait exited %s after the last job finished (leader %s stopped)", lag.Round(time.Millisecond), leader.Name)
	assert.Less(t, lag, 15*time.Second, "the wait returns within seconds of the batch finishing")
}
