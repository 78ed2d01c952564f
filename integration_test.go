package jetpool_test

// Integration tests: the jetpool command runs as separate OS processes
// (workers, producers, enqueue, batch wait, dlq) against a real embedded
// nats-server started by the test.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/internal/proctest"
	"github.com/jetpool/jetpool/topology"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		proctest.RemoveBinary()
		os.Exit(code)
	}))
}

func TestProcessesLoseNoJob(t *testing.T) {
	t.Parallel()
	url := proctest.StartBroker(t, topology.Options{}, "work")
	rec, hook := proctest.NewRecorder(t, time.Millisecond)
	proctest.Start(t, url, nil, "work", "--queue", "work", "--concurrency", "4", "--http", hook)
	proctest.Start(t, url, nil, "work", "--queue", "work", "--concurrency", "4", "--http", hook)

	ids := proctest.EnqueueLines(t, url, "work", "b-lines", 500)
	out, code := proctest.Run(t, url, "", "enqueue", "work", "single payload", "--id", "single-1")
	require.Equal(t, 0, code)
	require.Equal(t, "single-1", strings.TrimSpace(out))
	ids = append(ids, "single-1")

	src := filepath.Join(t.TempDir(), "source.txt")
	require.NoError(t, os.WriteFile(src, []byte("a\nb\nc\n"), 0o600))
	prod := proctest.Start(t, url, nil, "--log-level", "info", "produce", "--name", "nightly", "--queue", "work", "--every", "300ms", "--source-file", src, "--cycles", "2")
	require.Equal(t, 0, prod.Wait(t, 30*time.Second))
	assert.Equal(t, 2, strings.Count(prod.Stderr.String(), `msg=cycle`), prod.Stderr.String())
	assert.Contains(t, prod.Stderr.String(), "completed=3")

	r, code := proctest.WaitBatch(t, url, "b-lines")
	assert.Equal(t, 0, code)
	assert.Equal(t, proctest.Report{Batch: "b-lines", Expected: 500, Completed: 500, ElapsedMS: r.ElapsedMS}, r)
	natstest.Eventually(t, 30*time.Second, func() bool { return rec.Count() == 501+6 }, "every job recorded (got %d)", rec.Count())
	rec.Check(t, ids)
}

func TestSIGTERMWorkerLosesNothing(t *testing.T) {
	t.Parallel()
	testWorkerStopMidBatch(t, syscall.SIGTERM)
}

func TestKilledWorkerLosesNothing(t *testing.T) {
	t.Parallel()
	testWorkerStopMidBatch(t, syscall.SIGKILL)
}

func testWorkerStopMidBatch(t *testing.T, sig syscall.Signal) {
	url := proctest.StartBroker(t, topology.Options{AckWait: 2 * time.Second}, "work")
	rec, hook := proctest.NewRecorder(t, 10*time.Millisecond)
	ids := proctest.EnqueueLines(t, url, "work", "b-stop", 400)
	first := proctest.Start(t, url, nil, "work", "--queue", "work", "--concurrency", "8", "--http", hook)
	natstest.Eventually(t, 30*time.Second, func() bool { return rec.Count() >= 50 }, "first worker under way")
	require.NoError(t, first.Cmd.Process.Signal(sig))
	code := first.Wait(t, 30*time.Second)
	if sig == syscall.SIGTERM {
		assert.Equal(t, 0, code, "a worker stops cleanly on SIGTERM")
	}
	stoppedAt := rec.Count()
	require.Less(t, stoppedAt, len(ids), "the worker was stopped mid-batch")

	proctest.Start(t, url, nil, "work", "--queue", "work", "--concurrency", "8", "--http", hook)
	r, code := proctest.WaitBatch(t, url, "b-stop")
	assert.Equal(t, 0, code)
	assert.Equal(t, 400, r.Completed)
	assert.Equal(t, 0, r.Dead)
	rec.Check(t, ids)
}

func TestExecExitCodes(t *testing.T) {
	url := proctest.StartBroker(t, topology.Options{}, "exec")
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
	proctest.Start(t, url, nil, "work", "--queue", "exec", "--max-attempts", "3", "--env", "ATTEMPT_LOG", "--exec", "sh", "-c", script)

	var in strings.Builder
	for _, line := range []string{"ok", "retry", "perm", "ok $(touch " + pwned + ")"} {
		in.WriteString(line + "\n")
	}
	out, code := proctest.Run(t, url, in.String(), "enqueue", "exec", "-", "--batch", "codes")
	require.Equal(t, 0, code, out)

	r, code := proctest.WaitBatch(t, url, "codes")
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

	out, code = proctest.Run(t, url, "", "dlq", "ls", "exec", "--json")
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
	t.Parallel()
	url := proctest.StartBroker(t, topology.Options{}, "work")
	rec, hook := proctest.NewRecorder(t, 0)
	rec.SetFail(func(p string) bool { return strings.HasPrefix(p, "poison") })
	proctest.Start(t, url, nil, "work", "--queue", "work", "--max-attempts", "2", "--http", hook)

	var in strings.Builder
	for i := range 20 {
		if i%7 == 3 {
			fmt.Fprintf(&in, "poison %d\n", i)
		} else {
			fmt.Fprintf(&in, "fine %d\n", i)
		}
	}
	_, code := proctest.Run(t, url, in.String(), "enqueue", "work", "-", "--batch", "pb")
	require.Equal(t, 0, code)
	r, code := proctest.WaitBatch(t, url, "pb")
	assert.Equal(t, 3, code, "dead jobs exit 3")
	assert.Equal(t, 3, r.Dead)
	assert.Equal(t, 17, r.Completed)

	out, code := proctest.Run(t, url, "", "batch", "show", "pb", "--json")
	require.Equal(t, 0, code)
	assert.Contains(t, out, `"dead":3`)

	out, code = proctest.Run(t, url, "", "dlq", "show", "work", "pb-4", "--json")
	require.Equal(t, 0, code)
	assert.Contains(t, out, `"payload_text": "poison 3"`)
	assert.Contains(t, out, `"attempts": 2`)
	out, code = proctest.Run(t, url, "", "dlq", "show", "work", "pb-4")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "attempts  2\n")
	assert.Contains(t, out, "\npoison 3\n", "the payload as text")

	rec.SetFail(nil)
	out, code = proctest.Run(t, url, "", "dlq", "retry", "work", "--all")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "retried 3 jobs")
	r, code = proctest.WaitBatch(t, url, "pb")
	assert.Equal(t, 0, code)
	assert.Equal(t, 20, r.Completed)
	assert.Equal(t, 0, r.Dead)

	out, code = proctest.Run(t, url, "", "status", "--json")
	require.Equal(t, 0, code)
	assert.Contains(t, out, `"queue":"work"`)
}

func TestBadInputGetsClearErrors(t *testing.T) {
	url := proctest.StartBroker(t, topology.Options{})
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
		p := proctest.Start(t, url, nil, tc.args...)
		code := p.Wait(t, 10*time.Second)
		assert.Equal(t, tc.code, code, "%v", tc.args)
		assert.Contains(t, p.Stderr.String(), tc.want, "%v", tc.args)
		assert.NotContains(t, p.Stderr.String(), "goroutine ", "no stack trace")
	}

	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("pools:\n  q:\n    concurrency: -1\n"), 0o600))
	p := proctest.Start(t, url, nil, "--config", cfg, "status")
	assert.Equal(t, 64, p.Wait(t, 10*time.Second))
	assert.Contains(t, p.Stderr.String(), "pools.q.concurrency: -1")

	began := time.Now()
	p = proctest.Start(t, "nats://127.0.0.1:1", nil, "status")
	assert.Equal(t, 69, p.Wait(t, 10*time.Second), "unavailable")
	assert.Contains(t, p.Stderr.String(), "cannot reach NATS at nats://127.0.0.1:1")
	assert.Less(t, time.Since(began), 5*time.Second)
}

func TestDemoRuns(t *testing.T) {
	t.Parallel()
	p := proctest.Start(t, "nats://unused:4222", nil, "demo", "--jobs", "40", "--cycles", "2", "--interval", "200ms")
	require.Equal(t, 0, p.Wait(t, 60*time.Second), p.Stderr.String())
	out := p.Stdout.String()
	assert.Contains(t, out, "expected 40, completed 39, dead 1, pending 0")
	assert.Contains(t, out, "total")
}

// The broker command runs a server others connect to, provisions it, and
// stops cleanly on SIGTERM; produce --source-cmd fills a queue from a program.
func TestBrokerCommandAndCommandSource(t *testing.T) {
	t.Parallel()
	b := proctest.Start(t, "nats://unused:1", nil, "broker", "--listen", "127.0.0.1:-1", "--store", t.TempDir())
	var url string
	natstest.Eventually(t, 20*time.Second, func() bool {
		url = strings.TrimSpace(b.Stdout.String())
		return strings.HasPrefix(url, "nats://")
	}, "broker printed its URL")

	out, code := proctest.Run(t, url, "", "provision", "jobs", "--replicas", "1")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "provisioned JETPOOL_JOBS")

	rec, hook := proctest.NewRecorder(t, 0)
	proctest.Start(t, url, nil, "work", "--queue", "jobs", "--http", hook)
	prod := proctest.Start(t, url, nil, "--log-level", "info", "produce", "--name", "cmd", "--queue", "jobs", "--every", "200ms",
		"--cycles", "2", "--source-cmd", "sh", "-c", "seq 1 5")
	require.Equal(t, 0, prod.Wait(t, 30*time.Second), prod.Stderr.String())
	assert.Len(t, regexp.MustCompile(`msg=cycle .*completed=5`).FindAllString(prod.Stderr.String(), -1), 2, prod.Stderr.String())
	assert.Equal(t, 10, rec.Count())

	require.NoError(t, b.Cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, b.Wait(t, 30*time.Second))
}

// enqueue - names every line too large for the work stream and enqueues
// nothing, so that the batch is not left with holes; with the lines fixed,
// the same batch ID enqueues them all.
func TestEnqueueLinesNamesRefusedLines(t *testing.T) {
	t.Parallel()
	url := proctest.StartBroker(t, topology.Options{MaxMsgSize: 256}, "work")
	long := strings.Repeat("x", 1000)
	p := proctest.Start(t, url, strings.NewReader("short\n"+long+"\nshort\n"+long+"\n"), "enqueue", "work", "-", "--batch", "mixed")
	assert.Equal(t, 1, p.Wait(t, 30*time.Second))
	assert.Empty(t, strings.TrimSpace(p.Stdout.String()), "no batch was created")
	assert.Contains(t, p.Stderr.String(), "2 of 4 lines exceed")
	assert.Contains(t, p.Stderr.String(), "lines 2, 4")
	assert.Contains(t, p.Stderr.String(), "256 bytes")
	_, code := proctest.Run(t, url, "", "batch", "show", "mixed", "--json")
	assert.Equal(t, 1, code, "batch not found")

	out, code := proctest.Run(t, url, "short\nfixed\nshort\nfixed\n", "enqueue", "work", "-", "--batch", "mixed")
	require.Equal(t, 0, code)
	assert.Equal(t, "mixed", strings.TrimSpace(out))
	out, code = proctest.Run(t, url, "", "batch", "show", "mixed", "--json")
	require.Equal(t, 0, code)
	assert.Contains(t, out, `"expected":4`)
}

// work --forward: a completed --exec job's stdout becomes the payload of a
// job on the next queue, in the same batch.
func TestExecForwardsStdout(t *testing.T) {
	t.Parallel()
	url := proctest.StartBroker(t, topology.Options{}, "lower", "upper")
	rec, hook := proctest.NewRecorder(t, 0)
	proctest.Start(t, url, nil, "work", "--queue", "lower", "--forward", "upper", "--exec", "tr", "a-z", "A-Z")
	proctest.Start(t, url, nil, "work", "--queue", "upper", "--http", hook)
	_, code := proctest.Run(t, url, "hello\nworld\n", "enqueue", "lower", "-", "--batch", "fw")
	require.Equal(t, 0, code)
	r, code := proctest.WaitBatch(t, url, "fw")
	assert.Equal(t, 0, code)
	assert.Equal(t, 2, r.Completed)
	natstest.Eventually(t, 10*time.Second, func() bool { return rec.Count() == 2 }, "both forwarded jobs reached the next stage")
	assert.ElementsMatch(t, []string{"HELLO", "WORLD"}, rec.Payloads())
}
