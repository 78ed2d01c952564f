package jetpool_test

// Integration tests: the jetpool command runs as separate OS processes
// (workers, producers, enqueue, batch wait, dlq) against a real embedded
// nats-server started by the test.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/jetpool/jetpool/topology"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// jetpoolBin is the command built once for the whole run.
var jetpoolBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "jetpool-bin-")
	if err != nil {
		panic(err)
	}
	jetpoolBin = filepath.Join(dir, "jetpool")
	build := exec.Command("go", "build", "-o", jetpoolBin, "./cmd/jetpool")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the jetpool command:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// proc is a running jetpool process.
type proc struct {
	cmd    *exec.Cmd
	stdout syncBuf
	stderr syncBuf
	done   chan struct{}
	err    error
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// start runs jetpool with args against url; it is killed at the test's end
// if still running.
func start(t *testing.T, url string, stdin io.Reader, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(jetpoolBin, append([]string{"--nats-url", url, "--log-level", "warn"}, args...)...), done: make(chan struct{})}
	p.cmd.Stdin = stdin
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	require.NoError(t, p.cmd.Start())
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("jetpool %s stderr:\n%s", strings.Join(args, " "), p.stderr.String())
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%v did not exit within %s; stderr:\n%s", p.cmd.Args, timeout, p.stderr.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

// run runs jetpool to completion and returns its stdout and exit code.
func run(t *testing.T, url string, stdin string, args ...string) (string, int) {
	t.Helper()
	p := start(t, url, strings.NewReader(stdin), args...)
	code := p.wait(t, 60*time.Second)
	return p.stdout.String(), code
}

// recorder is an HTTP endpoint that workers call through --http; it counts
// every job ID it sees.
type recorder struct {
	mu       sync.Mutex
	seen     map[string]int
	payloads []string
	lastAt   time.Time
	delay    time.Duration
	fail     func(payload string) bool
}

func newRecorder(t *testing.T, delay time.Duration) (*recorder, string) {
	r := &recorder{seen: map[string]int{}, delay: delay}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	time.Sleep(r.delay)
	r.mu.Lock()
	fail := r.fail != nil && r.fail(string(body))
	if !fail {
		r.seen[req.Header.Get("Jetpool-Job-Id")]++
		r.payloads = append(r.payloads, string(body))
		r.lastAt = time.Now()
	}
	r.mu.Unlock()
	if fail {
		http.Error(w, "poison", http.StatusInternalServerError)
	}
}

func (r *recorder) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.seen) }

// duplicates counts deliveries beyond the first of every job.
func (r *recorder) duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.seen {
		n += c - 1
	}
	return n
}

// last is when the most recent job was recorded.
func (r *recorder) last() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.lastAt }

func (r *recorder) setFail(f func(string) bool) { r.mu.Lock(); r.fail = f; r.mu.Unlock() }

// check reports lost and duplicated jobs among want.
func (r *recorder) check(t *testing.T, want []string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	lost, dupes := 0, 0
	for _, id := range want {
		switch n := r.seen[id]; {
		case n == 0:
			lost++
		case n > 1:
			dupes += n - 1
		}
	}
	t.Logf("%d jobs: %d lost, %d duplicate deliveries", len(want), lost, dupes)
	assert.Zero(t, lost, "jobs lost")
}

func startBroker(t *testing.T, opts topology.Options, queues ...string) string {
	t.Helper()
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, env.JS, opts, queues...))
	return env.Server.ClientURL()
}

// enqueueLines enqueues n lines as one batch through `jetpool enqueue q -`
// and returns the batch ID and the job IDs.
func enqueueLines(t *testing.T, url, queue, batch string, n int) []string {
	t.Helper()
	var in strings.Builder
	ids := make([]string, n)
	for i := range n {
		fmt.Fprintf(&in, "payload %d\n", i)
		ids[i] = fmt.Sprintf("%s-%d", batch, i+1)
	}
	out, code := run(t, url, in.String(), "enqueue", queue, "-", "--batch", batch)
	require.Equal(t, 0, code)
	require.Equal(t, batch, strings.TrimSpace(out))
	return ids
}

type report struct {
	Batch     string `json:"batch"`
	Expected  int    `json:"expected"`
	Completed int    `json:"completed"`
	Dead      int    `json:"dead"`
	Pending   int    `json:"pending"`
	ElapsedMS int64  `json:"elapsed_ms"`
}

func waitBatch(t *testing.T, url, batch string) (report, int) {
	t.Helper()
	out, code := run(t, url, "", "batch", "wait", batch, "--json", "--timeout", "45s")
	var r report
	require.NoError(t, json.Unmarshal([]byte(out), &r), "output: %q", out)
	return r, code
}

func TestProcessesLoseNoJob(t *testing.T) {
	url := startBroker(t, topology.Options{}, "work")
	rec, hook := newRecorder(t, time.Millisecond)
	start(t, url, nil, "work", "--queue", "work", "--concurrency", "4", "--http", hook)
	start(t, url, nil, "work", "--queue", "work", "--concurrency", "4", "--http", hook)

	ids := enqueueLines(t, url, "work", "b-lines", 500)
	out, code := run(t, url, "", "enqueue", "work", "single payload", "--id", "single-1")
	require.Equal(t, 0, code)
	require.Equal(t, "single-1", strings.TrimSpace(out))
	ids = append(ids, "single-1")

	src := filepath.Join(t.TempDir(), "source.txt")
	require.NoError(t, os.WriteFile(src, []byte("a\nb\nc\n"), 0o600))
	prod := start(t, url, nil, "--log-level", "info", "produce", "--name", "nightly", "--queue", "work", "--every", "300ms", "--source-file", src, "--cycles", "2")
	require.Equal(t, 0, prod.wait(t, 30*time.Second))
	assert.Equal(t, 2, strings.Count(prod.stderr.String(), `msg=cycle`), prod.stderr.String())
	assert.Contains(t, prod.stderr.String(), "completed=3")

	r, code := waitBatch(t, url, "b-lines")
	assert.Equal(t, 0, code)
	assert.Equal(t, report{Batch: "b-lines", Expected: 500, Completed: 500, ElapsedMS: r.ElapsedMS}, r)
	natstest.Eventually(t, 30*time.Second, func() bool { return rec.count() == 501+6 }, "every job recorded (got %d)", rec.count())
	rec.check(t, ids)
}

func TestSIGTERMWorkerLosesNothing(t *testing.T) {
	testWorkerStopMidBatch(t, syscall.SIGTERM)
}

func TestKilledWorkerLosesNothing(t *testing.T) {
	testWorkerStopMidBatch(t, syscall.SIGKILL)
}

func testWorkerStopMidBatch(t *testing.T, sig syscall.Signal) {
	url := startBroker(t, topology.Options{AckWait: 2 * time.Second}, "work")
	rec, hook := newRecorder(t, 10*time.Millisecond)
	ids := enqueueLines(t, url, "work", "b-stop", 400)
	first := start(t, url, nil, "work", "--queue", "work", "--concurrency", "8", "--http", hook)
	natstest.Eventually(t, 30*time.Second, func() bool { return rec.count() >= 50 }, "first worker under way")
	require.NoError(t, first.cmd.Process.Signal(sig))
	code := first.wait(t, 30*time.Second)
	if sig == syscall.SIGTERM {
		assert.Equal(t, 0, code, "a worker stops cleanly on SIGTERM")
	}
	stoppedAt := rec.count()
	require.Less(t, stoppedAt, len(ids), "the worker was stopped mid-batch")

	start(t, url, nil, "work", "--queue", "work", "--concurrency", "8", "--http", hook)
	r, code := waitBatch(t, url, "b-stop")
	assert.Equal(t, 0, code)
	assert.Equal(t, 400, r.Completed)
	assert.Equal(t, 0, r.Dead)
	rec.check(t, ids)
}

func TestExecExitCodes(t *testing.T) {
	url := startBroker(t, topology.Options{}, "exec")
	dir := t.TempDir()
	log := filepath.Join(dir, "attempts.log")
	pwned := filepath.Join(dir, "pwned")
	script := `payload=$(cat)
echo "$JETPOOL_JOB_ID $JETPOOL_ATTEMPT $JETPOOL_QUEUE $JETPOOL_BATCH" >> "$ATTEMPT_LOG"
case "$payload" in
ok*) exit 0 ;;
retry) [ "$JETPOOL_ATTEMPT" -ge 2 ] && exit 0; exit 75 ;;
perm) echo "bad data" >&2; exit 65 ;;
*) exit 0 ;;
esac`
	t.Setenv("ATTEMPT_LOG", log) // inherited by the worker, passed to its programs by --env
	start(t, url, nil, "work", "--queue", "exec", "--max-attempts", "3", "--env", "ATTEMPT_LOG", "--exec", "sh", "-c", script)

	var in strings.Builder
	for _, line := range []string{"ok", "retry", "perm", "ok $(touch " + pwned + ")"} {
		in.WriteString(line + "\n")
	}
	out, code := run(t, url, in.String(), "enqueue", "exec", "-", "--batch", "codes")
	require.Equal(t, 0, code, out)

	r, code := waitBatch(t, url, "codes")
	assert.Equal(t, 3, code, "a batch with a dead job exits 3")
	assert.Equal(t, 4, r.Expected)
	assert.Equal(t, 3, r.Completed)
	assert.Equal(t, 1, r.Dead)

	data, err := os.ReadFile(log)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	attempts := map[string][]string{}
	for _, l := range lines {
		f := strings.Fields(l)
		require.Len(t, f, 4, l)
		assert.Equal(t, "exec", f[2])
		assert.Equal(t, "codes", f[3])
		attempts[f[0]] = append(attempts[f[0]], f[1])
	}
	assert.Equal(t, []string{"1", "2"}, attempts["codes-2"], "exit 75 retries")
	assert.Equal(t, []string{"1"}, attempts["codes-3"], "exit 65 dead-letters at once")
	assert.NoFileExists(t, pwned, "the payload must never reach a shell")

	out, code = run(t, url, "", "dlq", "ls", "exec", "--json")
	require.Equal(t, 0, code)
	var letters []struct {
		JobID    string `json:"job_id"`
		Attempts int    `json:"attempts"`
		Error    string `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &letters))
	require.Len(t, letters, 1)
	assert.Equal(t, "codes-3", letters[0].JobID)
	assert.Equal(t, 1, letters[0].Attempts)
	assert.Contains(t, letters[0].Error, "bad data")
}

func TestPoisonBatchThenDLQRetry(t *testing.T) {
	url := startBroker(t, topology.Options{}, "work")
	rec, hook := newRecorder(t, 0)
	rec.setFail(func(p string) bool { return strings.HasPrefix(p, "poison") })
	start(t, url, nil, "work", "--queue", "work", "--max-attempts", "2", "--http", hook)

	var in strings.Builder
	for i := range 20 {
		if i%7 == 3 {
			fmt.Fprintf(&in, "poison %d\n", i)
		} else {
			fmt.Fprintf(&in, "fine %d\n", i)
		}
	}
	_, code := run(t, url, in.String(), "enqueue", "work", "-", "--batch", "pb")
	require.Equal(t, 0, code)
	r, code := waitBatch(t, url, "pb")
	assert.Equal(t, 3, code, "dead jobs exit 3")
	assert.Equal(t, 3, r.Dead)
	assert.Equal(t, 17, r.Completed)

	out, code := run(t, url, "", "batch", "show", "pb", "--json")
	require.Equal(t, 0, code)
	assert.Contains(t, out, `"dead":3`)

	out, code = run(t, url, "", "dlq", "show", "work", "pb-4", "--json")
	require.Equal(t, 0, code)
	assert.Contains(t, out, `"payload_text": "poison 3"`)
	assert.Contains(t, out, `"attempts": 2`)
	out, code = run(t, url, "", "dlq", "show", "work", "pb-4")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "attempts  2\n")
	assert.Contains(t, out, "\npoison 3\n", "the payload as text")

	rec.setFail(nil)
	out, code = run(t, url, "", "dlq", "retry", "work", "--all")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "retried 3 jobs")
	r, code = waitBatch(t, url, "pb")
	assert.Equal(t, 0, code)
	assert.Equal(t, 20, r.Completed)
	assert.Equal(t, 0, r.Dead)

	out, code = run(t, url, "", "status", "--json")
	require.Equal(t, 0, code)
	assert.Contains(t, out, `"queue":"work"`)
}

func TestBadInputGetsClearErrors(t *testing.T) {
	url := startBroker(t, topology.Options{})
	for _, tc := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"--no-such-flag"}, "unknown flag", 64},
		{[]string{"enqueue", "bad.queue", "x"}, `"bad.queue"`, 64},
		{[]string{"work", "--queue", "q", "--exec", "/no/such/program"}, "/no/such/program", 64},
		{[]string{"work", "--queue", "q"}, "exactly one handler", 64},
		{[]string{"work", "--queue", "q", "--builtin", "fail=2"}, "fail=2", 64},
		{[]string{"--log-format", "xml", "status"}, `"xml"`, 64},
	} {
		p := start(t, url, nil, tc.args...)
		code := p.wait(t, 10*time.Second)
		assert.Equal(t, tc.code, code, "%v", tc.args)
		assert.Contains(t, p.stderr.String(), tc.want, "%v", tc.args)
		assert.NotContains(t, p.stderr.String(), "goroutine ", "no stack trace")
	}

	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("pools:\n  q:\n    concurrency: -1\n"), 0o600))
	p := start(t, url, nil, "--config", cfg, "status")
	assert.Equal(t, 64, p.wait(t, 10*time.Second))
	assert.Contains(t, p.stderr.String(), "pools.q.concurrency: -1")

	began := time.Now()
	p = start(t, "nats://127.0.0.1:1", nil, "status")
	assert.Equal(t, 69, p.wait(t, 10*time.Second), "unavailable")
	assert.Contains(t, p.stderr.String(), "cannot reach NATS at nats://127.0.0.1:1")
	assert.Less(t, time.Since(began), 5*time.Second)
}

func TestDemoRuns(t *testing.T) {
	p := start(t, "nats://unused:4222", nil, "demo", "--jobs", "40", "--cycles", "2", "--interval", "200ms")
	require.Equal(t, 0, p.wait(t, 60*time.Second), p.stderr.String())
	out := p.stdout.String()
	assert.Contains(t, out, "expected 40, completed 39, dead 1, pending 0")
	assert.Contains(t, out, "total")
}

// The broker command runs a server others connect to, provisions it, and
// stops cleanly on SIGTERM; produce --source-cmd fills a queue from a program.
func TestBrokerCommandAndCommandSource(t *testing.T) {
	b := start(t, "nats://unused:1", nil, "broker", "--listen", "127.0.0.1:-1", "--store", t.TempDir())
	var url string
	natstest.Eventually(t, 20*time.Second, func() bool {
		url = strings.TrimSpace(b.stdout.String())
		return strings.HasPrefix(url, "nats://")
	}, "broker printed its URL")

	out, code := run(t, url, "", "provision", "jobs", "--replicas", "1")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "provisioned JETPOOL_JOBS")

	rec, hook := newRecorder(t, 0)
	start(t, url, nil, "work", "--queue", "jobs", "--http", hook)
	prod := start(t, url, nil, "--log-level", "info", "produce", "--name", "cmd", "--queue", "jobs", "--every", "200ms",
		"--cycles", "2", "--source-cmd", "sh", "-c", "seq 1 5")
	require.Equal(t, 0, prod.wait(t, 30*time.Second), prod.stderr.String())
	assert.Len(t, regexp.MustCompile(`msg=cycle .*completed=5`).FindAllString(prod.stderr.String(), -1), 2, prod.stderr.String())
	assert.Equal(t, 10, rec.count())

	require.NoError(t, b.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, b.wait(t, 30*time.Second))
}

// enqueue - names every line too large for the work stream and enqueues
// nothing, so that the batch is not left with holes; with the lines fixed,
// the same batch ID enqueues them all.
func TestEnqueueLinesNamesRefusedLines(t *testing.T) {
	url := startBroker(t, topology.Options{MaxMsgSize: 256}, "work")
	long := strings.Repeat("x", 1000)
	p := start(t, url, strings.NewReader("short\n"+long+"\nshort\n"+long+"\n"), "enqueue", "work", "-", "--batch", "mixed")
	assert.Equal(t, 1, p.wait(t, 30*time.Second))
	assert.Empty(t, strings.TrimSpace(p.stdout.String()), "no batch was created")
	assert.Contains(t, p.stderr.String(), "2 of 4 lines exceed")
	assert.Contains(t, p.stderr.String(), "lines 2, 4")
	assert.Contains(t, p.stderr.String(), "256 bytes")
	_, code := run(t, url, "", "batch", "show", "mixed", "--json")
	assert.Equal(t, 1, code, "batch not found")

	out, code := run(t, url, "short\nfixed\nshort\nfixed\n", "enqueue", "work", "-", "--batch", "mixed")
	require.Equal(t, 0, code)
	assert.Equal(t, "mixed", strings.TrimSpace(out))
	out, code = run(t, url, "", "batch", "show", "mixed", "--json")
	require.Equal(t, 0, code)
	assert.Contains(t, out, `"expected":4`)
}

// work --forward: a completed --exec job's stdout becomes the payload of a
// job on the next queue, in the same batch.
func TestExecForwardsStdout(t *testing.T) {
	url := startBroker(t, topology.Options{}, "lower", "upper")
	rec, hook := newRecorder(t, 0)
	start(t, url, nil, "work", "--queue", "lower", "--forward", "upper", "--exec", "tr", "a-z", "A-Z")
	start(t, url, nil, "work", "--queue", "upper", "--http", hook)
	_, code := run(t, url, "hello\nworld\n", "enqueue", "lower", "-", "--batch", "fw")
	require.Equal(t, 0, code)
	r, code := waitBatch(t, url, "fw")
	assert.Equal(t, 0, code)
	assert.Equal(t, 2, r.Completed)
	natstest.Eventually(t, 10*time.Second, func() bool { return rec.count() == 2 }, "both forwarded jobs reached the next stage")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	assert.ElementsMatch(t, []string{"HELLO", "WORLD"}, rec.payloads)
}
