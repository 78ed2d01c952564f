package handlers

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/internal/pgrouptest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A timeout or a stop ends the program's whole process group, grandchildren
// that ignore SIGTERM included, within the stop grace: not only the program.
func TestExecHandlerEndsItsProcessGroup(t *testing.T) {
	pgrouptest.SkipWithoutProc(t)
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
			h, err := newExecHandler(ExecOptions{Argv: []string{"sh", "-c", pgrouptest.StubbornScript}, Env: []string{"JETPOOL_TEST_PIDS"}, Timeout: time.Second})
			require.NoError(t, err)
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
			pids := pgrouptest.ReadPIDs(t, file)
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
			pgrouptest.AllGone(t, pids, 100*time.Millisecond)
		})
	}
}

// A program that exits leaving a process behind in its group does not keep
// that process: it is killed when the program exits.
func TestExecHandlerKillsLeftovers(t *testing.T) {
	pgrouptest.SkipWithoutProc(t)
	file := filepath.Join(t.TempDir(), "pids")
	t.Setenv("JETPOOL_TEST_PIDS", file)
	h, err := Exec(ExecOptions{Argv: []string{"sh", "-c", `echo $$ >> "$JETPOOL_TEST_PIDS"; sleep 60 >/dev/null 2>&1 & echo $! >> "$JETPOOL_TEST_PIDS"; echo $$ >> "$JETPOOL_TEST_PIDS"`}, Env: []string{"JETPOOL_TEST_PIDS"}})
	require.NoError(t, err)
	require.NoError(t, h.Handle(context.Background(), &jetpool.Job{ID: "j", Attempt: 1}))
	pgrouptest.AllGone(t, pgrouptest.ReadPIDs(t, file), 100*time.Millisecond)
}
