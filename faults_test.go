package jetpool_test

// The fault suite: nothing acknowledged is lost. Each scenario runs jetpool
// as separate OS processes (workers, enqueue, batch wait, dlq, and for the
// broker faults the broker itself), injects a real fault (SIGKILL, SIGSTOP,
// SIGTERM, a broker killed or stopped, a full store, raw messages from a
// plain NATS client),
// and counts every job ID outside jetpool: workers call an HTTP endpoint
// (--http) that records each delivery, its Jetpool-Attempt header, which
// worker made it and whether the worker was still waiting for the answer.
//
// Every scenario reports jobs acknowledged at enqueue, processed (unique
// IDs), lost, duplicates (completed runs beyond the first), dead and a
// recovery time, and fails on any loss or on a report (batch wait --json,
// batch show --json) that disagrees with the IDs. TestFaults prints the table
// at the end; docs/reliability.md holds the figures.
//
// The short version of every scenario runs in CI; JETPOOL_FAULTS=long runs
// bigger batches and more repetitions:
//
//	go test -count=1 -v -run 'TestFaults' .
//	JETPOOL_FAULTS=long go test -count=1 -v -timeout 30m -run 'TestFaults' .
//
// Covered elsewhere, so not repeated here (scenario 2, the
// in-process 3-node cluster losing its stream and consumer leaders):
// producer/failover_test.go (TestEnqueueBatchSurvivesStreamLeaderLoss,
// TestWaitSurvivesLeaderLoss, TestManagerKeepsCyclesAcrossLeaderChange) and
// crash_test.go (TestEnqueueAndWaitProcessesAcrossLeaderLoss). The bad-input
// half of scenario 7 (oversize payloads, a full stream with Discard: New,
// invalid names) is TestEnqueueLinesNamesRefusedLines,
// TestEnqueueOnFullStreamCompletesByReRuns and TestBadInputGetsClearErrors.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/broker"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// faultsLong is whether JETPOOL_FAULTS=long asks for the long version.
func faultsLong() bool { return os.Getenv("JETPOOL_FAULTS") == "long" }

// scale picks the short (CI) or the long figure.
func scale(short, long int) int {
	if faultsLong() {
		return long
	}
	return short
}

// defect fails the test with a message that names a jetpool defect the
// scenario exposed (as opposed to a failure of the test itself), and where
// it lives.
func defect(t *testing.T, where, format string, args ...any) {
	t.Helper()
	t.Errorf("DEFECT in %s: "+format, append([]any{where}, args...)...)
}

// knownDefect reports a defect the scenario exposed that is known and not
// yet fixed, loudly in the test log, without failing the suite: the
// scenario's other checks (no loss, exact reports) still fail it.
func knownDefect(t *testing.T, where, format string, args ...any) {
	t.Helper()
	t.Logf("KNOWN DEFECT (open) in %s: "+format, append([]any{where}, args...)...)
}

// faultRow is one line of the figures table.
type faultRow struct {
	Scenario  string
	Acked     int // jobs acknowledged at enqueue (stored by JetStream)
	Processed int // unique IDs whose handler completed
	Lost      int // acknowledged, neither processed nor dead
	Dupes     int // completed runs beyond the first
	Dead      int // dead-lettered at the end
	Recovery  time.Duration
	What      string // what the recovery time measures
}

var faultTable struct {
	mu   sync.Mutex
	rows []faultRow
}

func addRow(t *testing.T, r faultRow) {
	t.Helper()
	t.Logf("FAULTS | %s | acked %d | processed %d | lost %d | duplicates %d | dead %d | recovery %s (%s)",
		r.Scenario, r.Acked, r.Processed, r.Lost, r.Dupes, r.Dead, r.Recovery.Round(10*time.Millisecond), r.What)
	faultTable.mu.Lock()
	faultTable.rows = append(faultTable.rows, r)
	faultTable.mu.Unlock()
}

// TestFaults runs every scenario and prints the table of figures, in the
// markdown of docs/reliability.md.
func TestFaults(t *testing.T) {
	t.Cleanup(func() {
		faultTable.mu.Lock()
		defer faultTable.mu.Unlock()
		var b strings.Builder
		mode := "short"
		if faultsLong() {
			mode = "long"
		}
		fmt.Fprintf(&b, "fault suite (%s):\n| scenario | acked | processed | lost | duplicates | dead | recovery |\n| --- | ---: | ---: | ---: | ---: | ---: | --- |\n", mode)
		for _, r := range faultTable.rows {
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %s (%s) |\n", r.Scenario, r.Acked, r.Processed, r.Lost, r.Dupes, r.Dead, r.Recovery.Round(10*time.Millisecond), r.What)
		}
		t.Log(b.String())
		faultTable.rows = nil
	})
	t.Run("1-worker-kill9-loop", faultWorkerKillLoop)
	t.Run("3-broker-kill9", faultBrokerKill)
	t.Run("4-slow-handler", faultSlowHandler)
	t.Run("4-sigstop-worker", faultFrozenWorker)
	t.Run("5-poison", faultPoison)
	t.Run("6-sigterm-64-in-flight", faultSIGTERMInFlight)
	t.Run("7-raw-messages", faultRawMessages)
	t.Run("8-nats-unreachable", faultNATSUnreachable)
	t.Run("9-disk-full", faultDiskFull)
}

// ---------------------------------------------------------------------------
// The recorder: counts every delivery by job ID, outside jetpool.

type delivery struct {
	worker  string // the path the worker was given: /w1, /a, ...
	attempt int    // the Jetpool-Attempt header
	start   time.Time
	end     time.Time
	outcome string // "done", "failed", "aborted" (the worker went away first)
}

type faultRec struct {
	mu       sync.Mutex
	calls    map[string][]delivery
	inflight map[string]map[string]time.Time // worker -> IDs running there -> start
	starts   []time.Time                     // every call's start, in order
	delay    time.Duration
	fail     func(id, payload string) bool
	url      string
}

// newFaultRec starts the recorder; workers call it at url+"/NAME" to be told
// apart.
func newFaultRec(t *testing.T, delay time.Duration) *faultRec {
	r := &faultRec{calls: map[string][]delivery{}, inflight: map[string]map[string]time.Time{}, delay: delay}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

func (r *faultRec) hook(worker string) string { return r.url + "/" + worker }

func (r *faultRec) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	payload, _ := io.ReadAll(req.Body)
	id := req.Header.Get("Jetpool-Job-Id")
	attempt, _ := strconv.Atoi(req.Header.Get("Jetpool-Attempt"))
	d := delivery{worker: strings.Trim(req.URL.Path, "/"), attempt: attempt, start: time.Now()}
	r.mu.Lock()
	delay, fail := r.delay, r.fail != nil && r.fail(id, string(payload))
	r.starts = append(r.starts, d.start)
	if r.inflight[d.worker] == nil {
		r.inflight[d.worker] = map[string]time.Time{}
	}
	r.inflight[d.worker][id] = d.start
	r.mu.Unlock()

	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
		}
	}
	d.end = time.Now()
	switch {
	case req.Context().Err() != nil:
		d.outcome = "aborted"
	case fail:
		d.outcome = "failed"
	default:
		d.outcome = "done"
	}
	r.mu.Lock()
	delete(r.inflight[d.worker], id)
	r.calls[id] = append(r.calls[id], d)
	r.mu.Unlock()
	if fail {
		http.Error(w, "poison", http.StatusInternalServerError)
	}
}

func (r *faultRec) setDelay(d time.Duration) { r.mu.Lock(); r.delay = d; r.mu.Unlock() }
func (r *faultRec) setFail(f func(id, payload string) bool) {
	r.mu.Lock()
	r.fail = f
	r.mu.Unlock()
}

// doneCount is how many of ids completed at least once.
func (r *faultRec) doneCount(ids []string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, id := range ids {
		if r.completions(id) > 0 {
			n++
		}
	}
	return n
}

// done is how many distinct IDs completed at least once.
func (r *faultRec) done() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for id := range r.calls {
		if r.completions(id) > 0 {
			n++
		}
	}
	return n
}

func (r *faultRec) completions(id string) int { // r.mu held
	n := 0
	for _, d := range r.calls[id] {
		if d.outcome == "done" {
			n++
		}
	}
	return n
}

// running is the IDs running at worker now.
func (r *faultRec) running(worker string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for id := range r.inflight[worker] {
		ids = append(ids, id)
	}
	return ids
}

// runningFor reports how many jobs run at worker now that started at least
// min and at most max ago.
func (r *faultRec) runningFor(worker string, min, max time.Duration) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, start := range r.inflight[worker] {
		if age := time.Since(start); age >= min && age <= max {
			n++
		}
	}
	return n
}

// runningAt lists the jobs whose run at worker began before start and had
// not ended by end.
func (r *faultRec) runningAt(worker string, start, end time.Time) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for id, calls := range r.calls {
		for _, d := range calls {
			if d.worker == worker && d.start.Before(start) && (d.end.IsZero() || d.end.After(end)) {
				ids = append(ids, id)
				break
			}
		}
	}
	return ids
}

// deliveries is how often id was delivered to a handler, whatever the outcome.
func (r *faultRec) deliveries(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls[id])
}

// history returns a copy of id's deliveries.
func (r *faultRec) history(id string) []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls[id])
}

// firstStartAfter is when the first delivery after t0 began (zero if none).
func (r *faultRec) firstStartAfter(t0 time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := sort.Search(len(r.starts), func(i int) bool { return r.starts[i].After(t0) })
	if i == len(r.starts) {
		return time.Time{}
	}
	return r.starts[i]
}

// firstDoneAfter is when id first completed after t0 (zero if it has not).
func (r *faultRec) firstDoneAfter(id string, t0 time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range r.calls[id] {
		if d.outcome == "done" && d.end.After(t0) {
			return d.end
		}
	}
	return time.Time{}
}

// tally counts acked IDs against what the recorder saw and the dead-letter
// queue holds, and fails on any loss.
func (r *faultRec) tally(t *testing.T, scenario string, acked []string, dead map[string]deadJob) faultRow {
	t.Helper()
	r.mu.Lock()
	row := faultRow{Scenario: scenario, Acked: len(acked)}
	var lost []string
	for _, id := range acked {
		n := r.completions(id)
		switch {
		case n > 0:
			row.Processed++
			row.Dupes += n - 1
		case dead[id].JobID == "":
			lost = append(lost, id)
		}
		if dead[id].JobID != "" {
			row.Dead++
		}
	}
	r.mu.Unlock()
	row.Lost = len(lost)
	if len(lost) > 0 {
		t.Errorf("%s: %d acknowledged jobs lost (neither processed nor dead), first %v", scenario, len(lost), lost[:min(10, len(lost))])
	}
	return row
}

// ---------------------------------------------------------------------------
// Commands and reports.

// faultReport is what batch wait --json and batch show --json print.
type faultReport struct {
	Batch       string `json:"batch"`
	Expected    int    `json:"expected"`
	Completed   int    `json:"completed"`
	Dead        int    `json:"dead"`
	Pending     int    `json:"pending"`
	NotEnqueued int    `json:"not_enqueued"`
	MayRepeat   int    `json:"may_repeat"`
	Sealed      bool   `json:"sealed"`
	Done        bool   `json:"done"`
}

// waitFor runs batch wait --json with a timeout and returns the report and
// the exit code.
func waitFor(t *testing.T, url, batch string, timeout time.Duration) (faultReport, int) {
	t.Helper()
	p := start(t, url, nil, "batch", "wait", batch, "--json", "--timeout", timeout.String())
	code := p.wait(t, timeout+30*time.Second)
	var r faultReport
	require.NoError(t, json.Unmarshal([]byte(p.stdout.String()), &r), "batch wait %s (exit %d): %q\n%s", batch, code, p.stdout.String(), p.stderr.String())
	return r, code
}

func showFor(t *testing.T, url, batch string) faultReport {
	t.Helper()
	out, code := run(t, url, "", "batch", "show", batch, "--json")
	require.Equal(t, 0, code, out)
	var r faultReport
	require.NoError(t, json.Unmarshal([]byte(out), &r), out)
	return r
}

// agree fails when a report disagrees with the counted row: the batch must
// be done, expect every acknowledged job, and count as completed and dead
// exactly what the IDs say.
func agree(t *testing.T, what string, r faultReport, row faultRow) {
	t.Helper()
	want := faultReport{Batch: r.Batch, Expected: row.Acked, Completed: row.Acked - row.Dead, Dead: row.Dead, Sealed: true, Done: true, MayRepeat: r.MayRepeat}
	got := r
	got.NotEnqueued = 0
	assert.Equal(t, want, got, "%s disagrees with the job IDs counted outside jetpool", what)
}

type deadJob struct {
	JobID    string `json:"job_id"`
	Batch    string `json:"batch"`
	Error    string `json:"error"`
	Attempts int    `json:"attempts"`
}

// deadJobs lists a queue's dead-letter queue by job ID.
func deadJobs(t *testing.T, url, queue string) map[string]deadJob {
	t.Helper()
	out, code := run(t, url, "", "dlq", "ls", queue, "--json")
	require.Equal(t, 0, code, out)
	var list []deadJob
	require.NoError(t, json.Unmarshal([]byte(out), &list), out)
	m := map[string]deadJob{}
	for _, d := range list {
		m[d.JobID] = d
	}
	return m
}

// worker starts `jetpool work` on queue calling the recorder as name.
func worker(t *testing.T, url, queue string, rec *faultRec, name string, extra ...string) *proc {
	t.Helper()
	return start(t, url, nil, append([]string{"work", "--queue", queue, "--http", rec.hook(name)}, extra...)...)
}

func exited(p *proc) bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ---------------------------------------------------------------------------
// A broker in its own process, so that SIGKILL is real.

type brokerProc struct {
	t                   *testing.T
	store, listen, conf string
	p                   *proc
	url                 string
}

func startBrokerProc(t *testing.T, store, listen, conf string) *brokerProc {
	t.Helper()
	b := &brokerProc{t: t, store: store, listen: listen, conf: conf, url: "nats://" + listen}
	b.start()
	return b
}

func (b *brokerProc) start() {
	b.t.Helper()
	args := []string{"broker", "--store", b.store, "--listen", b.listen}
	if b.conf != "" {
		args = append(args, "--server-config", b.conf)
	}
	b.p = start(b.t, "nats://unused:1", nil, args...)
	natstest.Eventually(b.t, 60*time.Second, func() bool {
		return exited(b.p) || strings.HasPrefix(strings.TrimSpace(b.p.stdout.String()), "nats://")
	}, "the broker prints its URL")
	require.False(b.t, exited(b.p), "the broker exited: %s", b.p.stderr.String())
}

// stop sends sig and waits for the broker to exit.
func (b *brokerProc) stop(sig syscall.Signal) {
	b.t.Helper()
	require.NoError(b.t, b.p.cmd.Process.Signal(sig))
	b.p.wait(b.t, 30*time.Second)
}

// consumerAckWait reads the AckWait of queue's consumer.
func consumerAckWait(t *testing.T, url, queue string) time.Duration {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, jetpool.DefaultNames().WorkStream(), jetpool.DefaultNames().ConsumerName(queue))
	require.NoError(t, err)
	return c.CachedInfo().Config.AckWait
}

// ---------------------------------------------------------------------------
// 1. kill -9 of a worker process every 2 s during a batch; 3 worker
// processes, each restarted at once.

func faultWorkerKillLoop(t *testing.T) {
	const ackWait = 2 * time.Second
	n := scale(3000, 20000)
	url := startBroker(t, broker.ProvisionOptions{AckWait: ackWait}, "k9")
	rec := newFaultRec(t, scaleDur(100*time.Millisecond, 40*time.Millisecond))
	ids := enqueueLines(t, url, "k9", "k9", n)

	names := []string{"w1", "w2", "w3"}
	workers := make([]*proc, len(names))
	for i, name := range names {
		workers[i] = worker(t, url, "k9", rec, name, "--concurrency", "8")
	}
	type kill struct {
		at      time.Time
		running []string
	}
	var kills []kill
	began := time.Now()
	deadline := began.Add(time.Duration(scale(2, 10)) * time.Minute)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		require.True(t, time.Now().Before(deadline), "the batch did not finish under kills: %d of %d processed", rec.doneCount(ids), n)
		<-tick.C
		if rec.doneCount(ids) == n || showFor(t, url, "k9").Done {
			break
		}
		i := len(kills) % len(workers)
		k := kill{at: time.Now(), running: rec.running(names[i])}
		require.NoError(t, workers[i].cmd.Process.Signal(syscall.SIGKILL))
		workers[i].wait(t, 10*time.Second)
		kills = append(kills, k)
		workers[i] = worker(t, url, "k9", rec, names[i], "--concurrency", "8")
	}
	r, _ := waitFor(t, url, "k9", time.Minute)
	dead := deadJobs(t, url, "k9")
	row := rec.tally(t, fmt.Sprintf("1. worker kill -9 every 2 s (%d kills, 3 processes)", len(kills)), ids, dead)
	ranTooFewTimes(t, rec, dead, 5)
	// Recovery: the longest time from a kill until a job the killed
	// process was running completed elsewhere (AckWait brings it back).
	for _, k := range kills {
		for _, id := range k.running {
			if at := rec.firstDoneAfter(id, k.at); !at.IsZero() {
				row.Recovery = max(row.Recovery, at.Sub(k.at))
			}
		}
	}
	row.What = fmt.Sprintf("longest kill to re-run of a job it was running, AckWait %s", ackWait)
	addRow(t, row)
	agree(t, "batch wait", r, row)
	assert.GreaterOrEqual(t, len(kills), 3, "the batch outlived at least three kills")
	assert.Less(t, row.Recovery, ackWait+15*time.Second, "a killed worker's jobs come back within AckWait")
}

// ranTooFewTimes reports the jobs dead-lettered for max attempts whose
// handler ran fewer times than that: deliveries to a process that died
// before starting them (it had prefetched them) were charged as attempts.
func ranTooFewTimes(t *testing.T, rec *faultRec, dead map[string]deadJob, maxAttempts int) {
	t.Helper()
	var short []string
	for id, d := range dead {
		if runs := rec.deliveries(id); runs < maxAttempts && strings.Contains(d.Error, "max attempts") {
			short = append(short, fmt.Sprintf("%s (%d deliveries, handler ran %d times: %s)", id, d.Attempts, runs, d.Error))
		}
	}
	sort.Strings(short)
	if len(short) > 0 {
		knownDefect(t, "consumer (attempts counted from NumDelivered, prefetch)",
			"%d jobs dead-lettered for max attempts (%d) whose handler ran fewer times: a killed worker's prefetched, never started jobs were charged an attempt each time; e.g. %v",
			len(short), maxAttempts, short[:min(5, len(short))])
	}
}

func scaleDur(short, long time.Duration) time.Duration {
	if faultsLong() {
		return long
	}
	return short
}

// ---------------------------------------------------------------------------
// 3. Broker kill -9 with jobs queued and in flight, restarted on the same
// store and port. (crash_test.go's "after a broker restart" restarts an
// in-process server cleanly; here the process dies with SIGKILL.)

func faultBrokerKill(t *testing.T) {
	const ackWait = 2 * time.Second
	n := scale(3000, 10000)
	kills := scale(1, 3)
	b := startBrokerProc(t, t.TempDir(), freePort(t), "")
	url := b.url
	out, code := run(t, url, "", "provision", "bk", "--ack-wait", ackWait.String())
	require.Equal(t, 0, code, out)
	rec := newFaultRec(t, 100*time.Millisecond)
	ids := enqueueLines(t, url, "bk", "bk", n)
	w1 := worker(t, url, "bk", rec, "w1", "--concurrency", "50")
	w2 := worker(t, url, "bk", rec, "w2", "--concurrency", "50")

	var recovery time.Duration
	inFlight := 0
	for k := 1; k <= kills; k++ {
		natstest.Eventually(t, 2*time.Minute, func() bool { return rec.doneCount(ids) >= k*n/(kills+2) }, "work under way before kill %d", k)
		natstest.Eventually(t, 30*time.Second, func() bool { return len(rec.running("w1"))+len(rec.running("w2")) >= 90 }, "about 100 jobs in flight")
		inFlight = max(inFlight, len(rec.running("w1"))+len(rec.running("w2")))
		killed := time.Now()
		b.stop(syscall.SIGKILL)
		b.start()
		ready := time.Since(killed)
		// Workers run on from the jobs they hold while the broker is down;
		// recovery is when the broker deletes acknowledged jobs again.
		progress := streamProgress(t, url, killed)
		recovery = max(recovery, progress)
		t.Logf("kill %d: %d queued, %d in flight; broker ready again %s after the kill, acks land again %s after it",
			k, n-rec.doneCount(ids), inFlight, r2s(ready), r2s(progress))
	}
	lastKill := time.Now()
	r, code := waitFor(t, url, "bk", 2*time.Minute)
	assert.Equal(t, 0, code)
	row := rec.tally(t, fmt.Sprintf("3. broker kill -9 ×%d, %d in flight, restarted on its store", kills, inFlight), ids, deadJobs(t, url, "bk"))
	row.Recovery, row.What = recovery, fmt.Sprintf("kill to acks landing again; batch done %s after the last kill", r2s(lastDone(rec, ids).Sub(lastKill)))
	addRow(t, row)
	agree(t, "batch wait", r, row)
	assert.False(t, exited(w1) || exited(w2), "workers ride out the broker's death")
	// Jobs run twice because their acks were lost with the broker: the
	// workers must say so, or a batch stalls for AckWait unexplained.
	logged := strings.Count(w1.stderr.String()+w2.stderr.String(), "ack")
	t.Logf("workers' log lines naming an ack: %d; jobs run twice: %d", logged, row.Dupes)
	if row.Dupes > 0 && logged == 0 {
		defect(t, "consumer (ack errors)", "%d jobs ran twice because their acks were lost while the broker was down, and no worker logged a failed ack", row.Dupes)
	}
	if got := consumerAckWait(t, url, "bk"); got != ackWait {
		defect(t, "broker provisioning", "the restarted broker changed the queue consumer's AckWait from %s to %s", ackWait, got)
	}
}

// ---------------------------------------------------------------------------
// 4a. A handler three times as slow as AckWait is delivered once: the pool
// heartbeats it.

func faultSlowHandler(t *testing.T) {
	const ackWait = 2 * time.Second
	n := scale(4, 16)
	url := startBroker(t, broker.ProvisionOptions{})
	out, code := run(t, url, "", "provision", "slow", "--ack-wait", ackWait.String())
	require.Equal(t, 0, code, out)
	require.Equal(t, ackWait, consumerAckWait(t, url, "slow"), "provision --ack-wait took effect")
	rec := newFaultRec(t, 3*ackWait)
	worker(t, url, "slow", rec, "w1", "--concurrency", strconv.Itoa(n), "--timeout", "30s")
	ids := enqueueLines(t, url, "slow", "slow", n)
	r, code := waitFor(t, url, "slow", time.Minute)
	assert.Equal(t, 0, code)
	row := rec.tally(t, fmt.Sprintf("4. slow handler (%s, 3× AckWait)", 3*ackWait), ids, deadJobs(t, url, "slow"))
	row.What = "none needed"
	addRow(t, row)
	agree(t, "batch wait", r, row)
	for _, id := range ids {
		assert.Equal(t, 1, rec.deliveries(id), "%s delivered once while its handler ran for 3× AckWait", id)
	}
}

// 4b. A worker frozen with SIGSTOP past AckWait: its jobs are redelivered to
// another worker; resumed with SIGCONT, its late acks do not corrupt the
// report.

func faultFrozenWorker(t *testing.T) {
	const ackWait = 2 * time.Second
	n := scale(400, 4000)
	url := startBroker(t, broker.ProvisionOptions{})
	out, code := run(t, url, "", "provision", "frz", "--ack-wait", ackWait.String())
	require.Equal(t, 0, code, out)
	rec := newFaultRec(t, 300*time.Millisecond)
	ids := enqueueLines(t, url, "frz", "frz", n)
	a := worker(t, url, "frz", rec, "a", "--concurrency", "8")
	worker(t, url, "frz", rec, "b", "--concurrency", "8")

	// Freeze mid-run: jobs at a run in waves of 300ms, and a freeze at the
	// end of a wave would catch none running.
	natstest.Eventually(t, time.Minute, func() bool {
		return rec.doneCount(ids) >= n/8 && rec.runningFor("a", 20*time.Millisecond, 150*time.Millisecond) >= 4
	}, "both workers busy, a's jobs well inside their run")
	frozen := time.Now()
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGSTOP))
	stopped := time.Now()
	time.Sleep(3 * ackWait)
	// Held at the freeze: runs at a begun before it whose answer a cannot
	// have read (the recorder answers the frozen worker all the same). A
	// run answered right at the signal may have been acked: left out.
	held := rec.runningAt("a", frozen, stopped.Add(50*time.Millisecond))
	require.NotEmpty(t, held, "jobs were running at the frozen worker")
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGCONT))
	resumed := time.Now()

	// The jobs a was running when frozen ran again at b, within AckWait.
	var recovery time.Duration
	for _, id := range held {
		var at time.Time
		for _, d := range rec.history(id) {
			if d.worker == "b" && d.outcome == "done" && d.end.After(frozen) {
				at = d.end
				break
			}
		}
		if at.IsZero() {
			t.Errorf("job %s, running at the frozen worker, was not redelivered to the other one while it was frozen", id)
			continue
		}
		recovery = max(recovery, at.Sub(frozen))
	}
	r, code := waitFor(t, url, "frz", 2*time.Minute)
	assert.Equal(t, 0, code)
	// Let the resumed worker's late acks and late runs land, then look again.
	time.Sleep(ackWait)
	again := showFor(t, url, "frz")
	// Duplicates: jobs a finished for the recorder while frozen (its acks
	// went out late) and jobs a had fetched and started only once resumed,
	// after b had run them.
	lateRuns := 0
	for _, id := range ids {
		h := rec.history(id)
		for i, d := range h {
			if d.worker == "a" && d.start.After(resumed) && i > 0 {
				lateRuns++
			}
		}
	}
	t.Logf("held by the frozen worker: %d running; started late by it after SIGCONT, already run elsewhere: %d", len(held), lateRuns)
	row := rec.tally(t, fmt.Sprintf("4. worker frozen (SIGSTOP) %s, 3× AckWait", resumed.Sub(frozen).Round(100*time.Millisecond)), ids, deadJobs(t, url, "frz"))
	row.Recovery, row.What = recovery, fmt.Sprintf("freeze to re-run of its last held job, AckWait %s", ackWait)
	addRow(t, row)
	agree(t, "batch wait", r, row)
	agree(t, "batch show after the late acks", again, row)
	assert.False(t, exited(a), "the resumed worker runs on")
	assert.Less(t, recovery, ackWait+10*time.Second)
}

// ---------------------------------------------------------------------------
// 5. Poison jobs: dead-lettered after exactly --max-attempts deliveries, the
// rest of the batch unaffected, dlq retry completes them. (integration_test.go's
// TestPoisonBatchThenDLQRetry checks the report and retry; this one counts
// every delivery.)

func faultPoison(t *testing.T) {
	const maxAttempts = 3
	n := scale(300, 3000)
	url := startBroker(t, broker.ProvisionOptions{}, "psn")
	cfg := filepath.Join(t.TempDir(), "jetpool.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("pools:\n  psn:\n    backoff:\n      initial: 20ms\n      max: 100ms\n"), 0o600))
	rec := newFaultRec(t, 0)
	poison := map[string]bool{}
	var in strings.Builder
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("psn-%d", i+1)
		if i%30 == 7 {
			poison[ids[i]] = true
			fmt.Fprintf(&in, "poison %d\n", i)
		} else {
			fmt.Fprintf(&in, "fine %d\n", i)
		}
	}
	rec.setFail(func(_, p string) bool { return strings.HasPrefix(p, "poison") })
	start(t, url, nil, "--config", cfg, "work", "--queue", "psn", "--concurrency", "16", "--max-attempts", strconv.Itoa(maxAttempts), "--http", rec.hook("w1"))
	out, code := run(t, url, in.String(), "enqueue", "psn", "-", "--batch", "psn")
	require.Equal(t, 0, code, out)

	r, code := waitFor(t, url, "psn", time.Minute)
	assert.Equal(t, 3, code, "a batch with dead jobs exits 3")
	dead := deadJobs(t, url, "psn")
	row := rec.tally(t, fmt.Sprintf("5. poison jobs (%d of %d, --max-attempts %d)", len(poison), n, maxAttempts), ids, dead)
	agree(t, "batch wait", r, row)
	assert.Len(t, dead, len(poison))
	for _, id := range ids {
		if poison[id] {
			assert.Equal(t, maxAttempts, rec.deliveries(id), "poison job %s delivered exactly --max-attempts times", id)
			assert.Equal(t, maxAttempts, dead[id].Attempts, "%s: attempts in its dead letter", id)
			assert.Contains(t, dead[id].Error, "poison", "%s: the dead letter says why", id)
		} else {
			assert.Equal(t, 1, rec.deliveries(id), "job %s, next to poison, delivered once", id)
		}
	}

	rec.setFail(nil)
	retried := time.Now()
	out, code = run(t, url, "", "dlq", "retry", "psn", "--all")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, fmt.Sprintf("retried %d jobs", len(poison)))
	r, code = waitFor(t, url, "psn", time.Minute)
	assert.Equal(t, 0, code)
	final := rec.tally(t, row.Scenario, ids, deadJobs(t, url, "psn"))
	agree(t, "batch wait after dlq retry", r, final)
	row.Processed, row.Lost, row.Dupes = final.Processed, final.Lost, final.Dupes
	var last time.Time
	for id := range poison {
		assert.Equal(t, maxAttempts+1, rec.deliveries(id), "%s: one more delivery after dlq retry", id)
		if h := rec.history(id); len(h) > 0 {
			last = maxTime(last, h[len(h)-1].end)
			assert.Equal(t, 1, h[len(h)-1].attempt, "%s: a retried job starts again at attempt 1", id)
		}
	}
	row.Recovery, row.What = last.Sub(retried), "dlq retry to the last retried job done; dead: before the retry"
	addRow(t, row)
}

// lastDone is when the last of ids first completed.
func lastDone(rec *faultRec, ids []string) time.Time {
	var last time.Time
	for _, id := range ids {
		last = maxTime(last, rec.firstDoneAfter(id, time.Time{}))
	}
	return last
}

func r2s(d time.Duration) time.Duration { return d.Round(10 * time.Millisecond) }

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// ---------------------------------------------------------------------------
// 6. SIGTERM to a worker with 64 jobs in flight: every job finished or
// returned, none charged an extra attempt. (integration_test.go's
// TestSIGTERMWorkerLosesNothing stops a worker with 8 running and counts
// losses only.)

func faultSIGTERMInFlight(t *testing.T) {
	const ackWait = 30 * time.Second // the default: nothing may wait for it
	reps := scale(1, 3)
	url := startBroker(t, broker.ProvisionOptions{AckWait: ackWait}, "term")
	rec := newFaultRec(t, 2*time.Second)
	n := 64 * 5
	var all []string
	var stopTime time.Duration
	for rep := 1; rep <= reps; rep++ {
		batch := fmt.Sprintf("term%d", rep)
		rec.setDelay(2 * time.Second)
		ids := enqueueLines(t, url, "term", batch, n)
		all = append(all, ids...)
		name := fmt.Sprintf("t%d", rep)
		w := worker(t, url, "term", rec, name, "--concurrency", "64", "--grace", "20s")
		natstest.Eventually(t, time.Minute, func() bool { return len(rec.running(name)) == 64 }, "64 jobs in flight")
		running := rec.running(name)
		sent := time.Now()
		require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
		assert.Equal(t, 0, w.wait(t, 30*time.Second), "a worker stops cleanly on SIGTERM: %s", w.stderr.String())
		stopTime = max(stopTime, time.Since(sent))
		for _, id := range running {
			assert.Equal(t, "done", lastOutcome(rec.history(id)), "job %s, running at SIGTERM, finished within the grace", id)
		}
		rec.setDelay(5 * time.Millisecond)
		worker(t, url, "term", rec, name+"b", "--concurrency", "64")
		restarted := time.Now()
		r, code := waitFor(t, url, batch, time.Minute)
		assert.Equal(t, 0, code)
		// Every job the stopped worker held and did not finish was returned
		// at once: none waited for AckWait to come back.
		var last time.Time
		for _, id := range ids {
			last = maxTime(last, rec.firstDoneAfter(id, time.Time{}))
		}
		assert.Less(t, last.Sub(restarted), ackWait/2, "the jobs the stopped worker had not started were returned, not left to AckWait (%s)", ackWait)
		agree(t, "batch wait", r, rec.tally(t, batch, ids, nil))
	}
	row := rec.tally(t, fmt.Sprintf("6. SIGTERM with 64 in flight ×%d", reps), all, deadJobs(t, url, "term"))
	row.Recovery, row.What = stopTime, "SIGTERM to exit 0, running jobs finished"
	addRow(t, row)
	assert.Zero(t, row.Dupes, "a clean stop runs nothing twice")

	// Attempts: a job's first run must carry Jetpool-Attempt 1. A job the
	// stopped worker had fetched but not started, and returned, must not
	// arrive with attempt 2: it would be dead-lettered one real run early.
	var charged []string
	for _, id := range all {
		h := rec.history(id)
		if len(h) > 0 && h[0].attempt != 1 {
			charged = append(charged, fmt.Sprintf("%s (first run at attempt %d)", id, h[0].attempt))
		}
	}
	if len(charged) > 0 {
		defect(t, "consumer (release of unstarted jobs at shutdown)",
			"%d of %d jobs returned unstarted by the SIGTERM'd worker were charged an attempt: their first run carried Jetpool-Attempt > 1, so with --max-attempts N they get N-1 real runs; e.g. %v",
			len(charged), len(all), charged[:min(5, len(charged))])
	}
}

func lastOutcome(h []delivery) string {
	if len(h) == 0 {
		return "never delivered"
	}
	return h[len(h)-1].outcome
}

// ackPending reads how many jobs queue's consumer has delivered and not
// yet had settled.
func ackPending(t *testing.T, url, queue string) int {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, jetpool.DefaultNames().WorkStream(), jetpool.DefaultNames().ConsumerName(queue))
	require.NoError(t, err)
	return c.CachedInfo().NumAckPending
}

// ---------------------------------------------------------------------------
// 7. Raw messages on job subjects from a plain NATS client, without jetpool
// headers: handled as jobs (their ID is the stream sequence) or dead-lettered
// with a reason, never a crash or a stuck consumer.

func faultRawMessages(t *testing.T) {
	n := scale(200, 5000)
	url := startBroker(t, broker.ProvisionOptions{}, "q")
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	names := jetpool.DefaultNames()
	payloads := [][]byte{nil, []byte("plain text"), {0, 0xff, 0xfe, '\n', 0}, []byte(`{"not":"a job"`), make([]byte, 100<<10)}
	for i := range n {
		p := payloads[i%len(payloads)]
		if i%len(payloads) == 1 {
			p = fmt.Appendf(nil, "plain text %d", i)
		}
		require.NoError(t, nc.Publish(names.JobSubject("q", "rawbatch"), p))
	}
	// Odd ones: junk in jetpool's own headers, and a subject with a token
	// too many for a queue and a batch.
	junk := nats.NewMsg(names.JobSubject("q", "rawbatch"))
	junk.Header.Set(jetpool.HeaderEnqueued, "yesterday")
	junk.Data = []byte("junk headers")
	require.NoError(t, nc.PublishMsg(junk))
	const extra = 5
	for i := range extra {
		require.NoError(t, nc.Publish(names.JobSubject("q", "rawbatch")+".extra", fmt.Appendf(nil, "extra token %d", i)))
	}
	require.NoError(t, nc.Flush())
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	// A subject without a batch token matches the work stream (jetpool.jobs.>)
	// but no queue's consumer (jetpool.jobs.q.>): it is acknowledged, then
	// must not sit in the stream for ever. It is published last, acknowledged.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, shortErr := js.Publish(ctx, "jetpool.jobs.q", []byte("no batch token"))
	t.Logf("JetStream publish to jetpool.jobs.q: error %v", shortErr)
	var stored int
	natstest.Eventually(t, 10*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, names.WorkStream())
		if err != nil {
			return false
		}
		info, err := s.Info(ctx)
		if err != nil {
			return false
		}
		stored = int(info.State.Msgs)
		return stored >= n+1+extra
	}, "the stream stores every raw message (%d of %d)", stored, n+1+extra)
	// Their IDs are the stream sequences: plain NATS publishes are
	// acknowledged by nobody, so what the stream holds is what was acked.
	var ids, extraIDs []string
	for seq := 1; seq <= n+1; seq++ {
		ids = append(ids, "seq-"+strconv.Itoa(seq))
	}
	for seq := n + 2; seq <= n+1+extra; seq++ {
		extraIDs = append(extraIDs, "seq-"+strconv.Itoa(seq))
	}

	rec := newFaultRec(t, 0)
	w := worker(t, url, "q", rec, "w1", "--concurrency", "16")
	began := time.Now()
	natstest.Eventually(t, time.Minute, func() bool { return rec.doneCount(ids) == len(ids) }, "every raw job handled (%d of %d)", rec.doneCount(ids), len(ids))
	handled := time.Since(began)
	dead := map[string]deadJob{}
	natstest.Eventually(t, 30*time.Second, func() bool { dead = deadJobs(t, url, "q"); return len(dead) >= extra }, "the extra-token messages dead-lettered")
	all := append(slices.Clone(ids), extraIDs...)
	row := rec.tally(t, fmt.Sprintf("7. raw NATS messages without headers (%d, %d on a 4-token subject)", len(all), extra), all, dead)
	row.Recovery, row.What = handled, "worker start to every raw job handled"
	addRow(t, row)
	assert.Equal(t, len(ids), row.Processed, "raw messages on a job subject are handled as jobs")
	assert.Equal(t, extra, row.Dead, "messages on a subject that is no job subject are dead-lettered")
	for _, id := range extraIDs {
		assert.Contains(t, dead[id].Error, "not a jetpool job subject", "%s dead-lettered with a reason", id)
		assert.Zero(t, rec.deliveries(id), "%s never reached the handler", id)
	}

	// Not stuck: a proper batch enqueued after the raw ones completes.
	after := enqueueLines(t, url, "q", "after-raw", 100)
	r, code := waitFor(t, url, "after-raw", time.Minute)
	assert.Equal(t, 0, code)
	agree(t, "batch wait of the batch after the raw messages", r, rec.tally(t, "after-raw", after, nil))
	assert.False(t, exited(w), "the worker survives raw messages")
	assert.NotContains(t, w.stderr.String(), "panic")
	// A batch ID nobody enqueued has no manifest: its report says so
	// instead of inventing one.
	p := start(t, url, nil, "batch", "show", "rawbatch", "--json")
	code = p.wait(t, 30*time.Second)
	t.Logf("batch show rawbatch: exit %d %s%s", code, strings.TrimSpace(p.stdout.String()), strings.TrimSpace(p.stderr.String()))

	// Nothing is left in the work stream: every message was handled or
	// dead-lettered.
	if left := workStreamMsgs(t, url); shortErr == nil && left > 0 {
		defect(t, "broker provisioning (the work stream's subjects)",
			"JetStream acknowledged a publish to jetpool.jobs.q (no batch token), which no queue consumer's filter (jetpool.jobs.QUEUE.>) matches: it stays in the work stream for ever, neither handled nor dead-lettered (%d messages left); the stream's subjects should be jetpool.jobs.*.> so that such a publish is refused", left)
	}
}

// ---------------------------------------------------------------------------
// 8. NATS unreachable at start (a worker started before the broker) and lost
// mid-run (the broker stopped, then restarted): workers wait and resume;
// enqueue fails within its deadline while the broker is down.

func faultNATSUnreachable(t *testing.T) {
	const ackWait = 2 * time.Second
	n := scale(1000, 5000)
	down := scaleDur(2*time.Second, 10*time.Second)
	stops := scale(1, 3)
	store, listen := t.TempDir(), freePort(t)
	url := "nats://" + listen
	rec := newFaultRec(t, 20*time.Millisecond)

	early := worker(t, url, "net", rec, "w1", "--concurrency", "8")
	time.Sleep(3 * time.Second)
	if exited(early) {
		defect(t, "internal/cli (work's connect)", "a worker started before the broker exits %d instead of waiting for it: %s",
			early.cmd.ProcessState.ExitCode(), strings.TrimSpace(early.stderr.String()))
	}
	up := time.Now()
	b := startBrokerProc(t, store, listen, "")
	out, code := run(t, url, "", "provision", "net", "--ack-wait", ackWait.String())
	require.Equal(t, 0, code, out)
	if exited(early) {
		early = worker(t, url, "net", rec, "w1", "--concurrency", "8") // so that the rest of the scenario runs
	}
	w2 := worker(t, url, "net", rec, "w2", "--concurrency", "8")
	ids := enqueueLines(t, url, "net", "net", n)
	natstest.Eventually(t, time.Minute, func() bool { return rec.doneCount(ids) > 0 }, "the early worker works")
	atStart := rec.firstStartAfter(up).Sub(up)

	var recovery, enqueueFail time.Duration
	for s := 1; s <= stops; s++ {
		natstest.Eventually(t, 2*time.Minute, func() bool { return rec.doneCount(ids) >= s*n/(stops+2) }, "work under way before stop %d", s)
		b.stop(syscall.SIGTERM)
		// While the broker is down, an enqueue fails within its deadline.
		began := time.Now()
		p := start(t, url, nil, "enqueue", "net", "while down", "--id", fmt.Sprintf("down-%d", s))
		code := p.wait(t, 30*time.Second)
		took := time.Since(began)
		enqueueFail = max(enqueueFail, took)
		assert.NotEqual(t, 0, code, "an enqueue with the broker down fails")
		assert.Less(t, took, 10*time.Second, "and says so within its deadline: %s", p.stderr.String())
		assert.Contains(t, p.stderr.String(), "cannot reach NATS")
		if rest := down - took; rest > 0 {
			time.Sleep(rest)
		}
		restarted := time.Now()
		b.start()
		recovery = max(recovery, streamProgress(t, url, restarted))
	}
	r, code := waitFor(t, url, "net", 2*time.Minute)
	assert.Equal(t, 0, code)
	row := rec.tally(t, fmt.Sprintf("8. NATS unreachable at start, then down %s ×%d", down, stops), ids, deadJobs(t, url, "net"))
	row.Recovery = recovery
	row.What = fmt.Sprintf("broker restart to acks landing again; broker start to first job %s; enqueue while down failed after %s", r2s(atStart), r2s(enqueueFail))
	addRow(t, row)
	agree(t, "batch wait", r, row)
	assert.False(t, exited(early) || exited(w2), "workers ride out the broker's absence")
}

// ---------------------------------------------------------------------------
// 9. Disk full: a store quota (jetstream { max_file_store }) in the broker's
// server config. Enqueues fail loudly, nothing acknowledged is lost, and the
// system recovers when space returns (workers consume what is stored).

func faultDiskFull(t *testing.T) {
	n := scale(5000, 20000)
	dir := t.TempDir()
	conf := filepath.Join(dir, "server.conf")
	require.NoError(t, os.WriteFile(conf, []byte("jetstream {\n  max_file_store: 1MB\n}\n"), 0o600))
	b := startBrokerProc(t, filepath.Join(dir, "store"), freePort(t), conf)
	url := b.url
	var in strings.Builder
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("full-%d", i+1)
		fmt.Fprintf(&in, "%04d %s\n", i, strings.Repeat("x", 250))
	}
	input := in.String()

	p := start(t, url, strings.NewReader(input), "enqueue", "dq", "-", "--batch", "full")
	code := p.wait(t, time.Minute)
	assert.NotEqual(t, 0, code, "an enqueue into a full store fails")
	assert.Contains(t, p.stderr.String(), "insufficient resources", "and names the refusal")
	t.Logf("enqueue of %d lines into the full store: exit %d, %s", n, code, lastLine(p.stderr.String()))
	p = start(t, url, nil, "enqueue", "dq", "one more", "--id", "one-more")
	code = p.wait(t, time.Minute)
	assert.NotEqual(t, 0, code, "a single enqueue into a full store fails")
	assert.Contains(t, p.stderr.String(), "insufficient resources")
	t.Logf("enqueue of one job into the full store: exit %d, %s", code, lastLine(p.stderr.String()))

	// What JetStream acknowledged is what the stream holds.
	acked := storedIDs(t, url, "full")
	require.NotEmpty(t, acked)
	require.Less(t, len(acked), n, "the quota refused part of the batch")
	t.Logf("the 1 MB store took %d of %d jobs", len(acked), n)

	// Space returns as workers consume; re-running the enqueue completes the batch.
	rec := newFaultRec(t, 0)
	worker(t, url, "dq", rec, "w1", "--concurrency", "16")
	began := time.Now()
	runs := 1
	for ; ; runs++ {
		require.Less(t, runs, 200, "the enqueue never completed")
		p := start(t, url, strings.NewReader(input), "enqueue", "dq", "-", "--batch", "full")
		code := p.wait(t, time.Minute)
		if code == 0 {
			break
		}
		assert.Contains(t, p.stderr.String(), "insufficient resources", "a refused re-run names the refusal")
		time.Sleep(100 * time.Millisecond)
	}
	recovered := time.Since(began)
	r, code := waitFor(t, url, "full", 2*time.Minute)
	assert.Equal(t, 0, code)
	row := rec.tally(t, fmt.Sprintf("9. disk full (1 MB max_file_store: %d of %d jobs stored, then %d runs)", len(acked), n, runs), ids, deadJobs(t, url, "dq"))
	row.Recovery, row.What = recovered, "workers start to the re-run enqueue succeeding"
	stored := rec.tally(t, "acknowledged while full", acked, nil)
	assert.Zero(t, stored.Lost, "nothing acknowledged while full is lost")
	row.Acked = len(ids)
	addRow(t, row)
	agree(t, "batch wait", r, row)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}

// workStreamMsgs is how many messages the work stream holds.
func workStreamMsgs(t *testing.T, url string) int {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, jetpool.DefaultNames().WorkStream())
	require.NoError(t, err)
	return int(s.CachedInfo().State.Msgs)
}

// streamProgress waits until the work stream holds fewer jobs than when it
// is first read (acknowledged jobs are deleted again) and returns the time
// since from.
func streamProgress(t *testing.T, url string, from time.Time) time.Duration {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	count := func() (uint64, bool) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s, err := js.Stream(ctx, jetpool.DefaultNames().WorkStream())
		if err != nil {
			return 0, false
		}
		return s.CachedInfo().State.Msgs, true
	}
	var first uint64
	natstest.Eventually(t, 30*time.Second, func() bool { var ok bool; first, ok = count(); return ok }, "the work stream answers")
	natstest.Eventually(t, time.Minute, func() bool { c, ok := count(); return ok && (c < first || c == 0) }, "acks land again")
	return time.Since(from)
}

// storedIDs reads the IDs of the jobs of batch the work stream holds, one
// message at a time (a second consumer on a work-queue stream would
// conflict with the queue's).
func storedIDs(t *testing.T, url, batch string) []string {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := js.Stream(ctx, jetpool.DefaultNames().WorkStream())
	require.NoError(t, err)
	st := s.CachedInfo().State
	var ids []string
	for seq := st.FirstSeq; seq <= st.LastSeq && st.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		if _, b, ok := jetpool.DefaultNames().SplitSubject(m.Subject); !ok || b != batch {
			continue
		}
		id := m.Header.Get(jetpool.HeaderJobID)
		if id == "" {
			id = m.Header.Get(jetpool.HeaderMsgID)
		}
		ids = append(ids, id)
	}
	return ids
}
