package cli

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stubbornScript ignores SIGTERM, as do the two sleeps it starts (ignored
// signals stay ignored across exec), and writes its own PID, which is its
// process group, then theirs, one a line, to $JETPOOL_TEST_PIDS.
const stubbornScript = `trap "" TERM
echo $$ >> "$JETPOOL_TEST_PIDS"
sleep 60 & echo $! >> "$JETPOOL_TEST_PIDS"
sleep 60 & echo $! >> "$JETPOOL_TEST_PIDS"
wait`

// readPIDs waits until the script has written its three PIDs and returns
// them, the group's leader first.
func readPIDs(t *testing.T, file string) []int {
	t.Helper()
	var pids []int
	natstest.Eventually(t, 10*time.Second, func() bool {
		data, _ := os.ReadFile(file)
		pids = pids[:0]
		for _, f := range strings.Fields(string(data)) {
			pid, err := strconv.Atoi(f)
			require.NoError(t, err)
			pids = append(pids, pid)
		}
		return len(pids) == 3
	}, "the script wrote its PIDs to %s", file)
	return pids
}

// leftovers returns the processes alive of those the script recorded, and
// of the process group its first PID leads. Zombies count as ended: where
// PID 1 does not reap, an orphan stays one.
func leftovers(t *testing.T, pids []int) []string {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var live []string
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
		s := string(data)
		end := strings.LastIndexByte(s, ')') + 1
		f := strings.Fields(s[end:])
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if f[2] == strconv.Itoa(pids[0]) || slices.Contains(pids, pid) {
			live = append(live, s[:end]+" "+f[0])
		}
	}
	return live
}

// allGone polls until none of leftovers is alive; it fails the test if one
// still is after within.
func allGone(t *testing.T, pids []int, within time.Duration) {
	t.Helper()
	began := time.Now()
	for {
		live := leftovers(t, pids)
		if len(live) == 0 {
			return
		}
		if time.Since(began) > within {
			t.Errorf("processes of the job still alive %s after it ended: %v", within, live)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func skipWithoutProc(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
}

// A timeout or a stop ends the program's whole process group, grandchildren
// that ignore SIGTERM included, within the stop grace: not only the program.
func TestExecHandlerEndsItsProcessGroup(t *testing.T) {
	skipWithoutProc(t)
	for _, tc := range []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		wantErr error
		wantMsg string
	}{
		{"timeout", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Second)
		}, context.DeadlineExceeded, "timed out after 1s"},
		{"stop", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(time.Second, cancel)
			return ctx, cancel
		}, context.Canceled, "the worker is stopping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "pids")
			t.Setenv("JETPOOL_TEST_PIDS", file)
			h, err := newExecHandler([]string{"sh", "-c", stubbornScript}, "", "JETPOOL_TEST_PIDS")
			require.NoError(t, err)
			h.timeout = time.Second // as work sets it from --timeout
			ctx, cancel := tc.ctx()
			defer cancel()
			type result struct {
				err   error
				ended time.Time
			}
			done := make(chan result, 1)
			go func() {
				err := h.Handle(ctx, &jetpool.Job{ID: "j", Queue: "q", Batch: "b", Attempt: 1})
				done <- result{err, time.Now()}
			}()
			pids := readPIDs(t, file)
			<-ctx.Done()
			stopped := time.Now()
			var r result
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Handle did not return")
			}
			assert.Less(t, r.ended.Sub(stopped), execStopGrace+500*time.Millisecond,
				"Handle returns within the stop grace, not WaitDelay's old 2s")
			assert.ErrorIs(t, r.err, tc.wantErr)
			assert.ErrorContains(t, r.err, tc.wantMsg)
			assert.NotContains(t, r.err.Error(), "killed: context")
			allGone(t, pids, 100*time.Millisecond)
		})
	}
}

// A program that exits leaving a process behind in its group does not keep
// that process: it is killed when the program exits.
func TestExecHandlerKillsLeftovers(t *testing.T) {
	skipWithoutProc(t)
	file := filepath.Join(t.TempDir(), "pids")
	t.Setenv("JETPOOL_TEST_PIDS", file)
	h, err := newExecHandler([]string{"sh", "-c", `echo $$ >> "$JETPOOL_TEST_PIDS"; sleep 60 >/dev/null 2>&1 & echo $! >> "$JETPOOL_TEST_PIDS"; echo $$ >> "$JETPOOL_TEST_PIDS"`}, "", "JETPOOL_TEST_PIDS")
	require.NoError(t, err)
	require.NoError(t, h.Handle(context.Background(), &jetpool.Job{ID: "j", Attempt: 1}))
	allGone(t, readPIDs(t, file), 100*time.Millisecond)
}

// A worker whose --exec program outlives --timeout says so in those words,
// and leaves none of the program's processes behind.
func TestWorkExecTimeoutEndsProcessGroup(t *testing.T) {
	skipWithoutProc(t)
	env := natstest.Start(t)
	url := env.Server.ClientURL()
	file := filepath.Join(t.TempDir(), "pids")
	t.Setenv("JETPOOL_TEST_PIDS", file)
	var out, errs natstest.Buffer
	require.Equal(t, ExitOK, Main(context.Background(), []string{"--nats-url", url, "provision", "q"}, strings.NewReader(""), &out, &errs), errs.String())
	worker := runInBackground(t, "--nats-url", url, "work", "--queue", "q", "--timeout", "1s", "--max-attempts", "1", "--env", "JETPOOL_TEST_PIDS",
		"--exec", "sh", "-c", stubbornScript)
	require.Equal(t, ExitOK, Main(context.Background(), []string{"--nats-url", url, "enqueue", "q", "-", "--batch", "b"}, strings.NewReader("x\n"), &out, &errs), errs.String())

	pids := readPIDs(t, file)
	natstest.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(worker.stderr.String(), "job dead-lettered")
	}, "the timed-out job is dead-lettered:\n%s", worker.stderr.String())
	allGone(t, pids, 100*time.Millisecond)
	assert.Contains(t, worker.stderr.String(), "sh timed out after 1s")
	assert.NotContains(t, worker.stderr.String(), "killed: context deadline exceeded")

	worker.stop()
	assert.Equal(t, ExitOK, worker.wait(t, 30*time.Second), worker.stderr.String())
}
