package handlers

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHTTPHandlerMapsStatusToOutcome(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.Header.Get("Jetpool-Job-Id"))
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "7")
		}
		w.WriteHeader(code)
	}))
	defer srv.Close()
	h, err := HTTP(HTTPOptions{URL: srv.URL})
	require.NoError(t, err)
	call := func(code int) error {
		return h.Handle(context.Background(), &jetpool.Job{ID: strconv.Itoa(code), Queue: "q", Batch: "b", Attempt: 1})
	}
	assert.NoError(t, call(200))
	assert.NoError(t, call(204))
	assert.ErrorIs(t, call(400), jetpool.ErrPermanent)
	assert.ErrorIs(t, call(404), jetpool.ErrPermanent)
	var ra *jetpool.RetryAfterError
	require.ErrorAs(t, call(429), &ra)
	assert.Equal(t, 7*time.Second, ra.Delay)
	err = call(503)
	require.Error(t, err)
	assert.NotErrorIs(t, err, jetpool.ErrPermanent)

	_, err = HTTP(HTTPOptions{URL: "ftp://x"})
	assert.ErrorContains(t, err, `"ftp://x"`)
}

func TestExecHandlerExitCodes(t *testing.T) {
	h, err := Exec(ExecOptions{Argv: []string{"sh", "-c", `exit "$(cat)"`}})
	require.NoError(t, err)
	run := func(code string) error {
		return h.Handle(context.Background(), &jetpool.Job{ID: "j", Payload: []byte(code), Attempt: 1})
	}
	assert.NoError(t, run("0"))
	assert.ErrorIs(t, run("65"), jetpool.ErrPermanent)
	for _, c := range []string{"75", "1"} {
		err := run(c)
		require.Error(t, err, c)
		assert.NotErrorIs(t, err, jetpool.ErrPermanent)
		assert.Contains(t, err.Error(), "exited with "+c)
	}
}

func TestExecHandlerKillsAtTimeout(t *testing.T) {
	h, err := Exec(ExecOptions{Argv: []string{"sleep", "30"}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	err = h.Handle(ctx, &jetpool.Job{ID: "j"})
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	assert.Less(t, time.Since(began), 5*time.Second)
}

func TestBuiltinSpecs(t *testing.T) {
	for _, good := range []string{"noop", "sleep=1ms", "fail=0", "fail=1"} {
		_, err := Builtin(good, "")
		assert.NoError(t, err, good)
	}
	for _, bad := range []string{"", "nap", "sleep=soon", "fail=1.5", "fail=-1"} {
		_, err := Builtin(bad, "")
		assert.ErrorContains(t, err, strconv.Quote(bad), bad)
	}
	h, _ := Builtin("fail=1", "")
	assert.Error(t, h.Handle(context.Background(), &jetpool.Job{}))
}

// A program's stdout that is not forwarded is logged at debug level.
func TestExecStdoutLoggedAtDebug(t *testing.T) {
	var logs bytes.Buffer
	h, err := newExecHandler(ExecOptions{Argv: []string{"sh", "-c", "echo resized 3 images"}})
	require.NoError(t, err)
	h.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	require.NoError(t, h.Handle(context.Background(), &jetpool.Job{ID: "j1", Queue: "q", Batch: "b", Attempt: 1}))
	assert.Contains(t, logs.String(), "level=DEBUG")
	assert.Contains(t, logs.String(), `stdout="resized 3 images\n"`)
	assert.Contains(t, logs.String(), "job_id=j1")

	logs.Reset()
	h.log = slog.New(slog.NewTextHandler(&logs, nil))
	require.NoError(t, h.Handle(context.Background(), &jetpool.Job{ID: "j2", Queue: "q", Attempt: 1}))
	assert.Empty(t, logs.String(), "nothing at info level")

	h, err = newExecHandler(ExecOptions{Argv: []string{"sh", "-c", "echo partial; exit 1"}})
	require.NoError(t, err)
	h.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	require.Error(t, h.Handle(context.Background(), &jetpool.Job{ID: "j3", Queue: "q", Attempt: 1}))
	assert.True(t, strings.Contains(logs.String(), `stdout="partial\n"`), "a failed program's output too: %s", logs.String())
}
