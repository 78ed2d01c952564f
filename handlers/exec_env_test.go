package handlers

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jetpool/jetpool"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The program gets PATH, HOME, the --env names and the job's variables,
// never the worker's NATS credentials; payloads with shell metacharacters,
// newlines and NUL bytes reach it on stdin unchanged; metadata unfit for an
// environment variable is refused for good.
func TestExecEnvironmentIsAnAllowList(t *testing.T) {
	t.Setenv("NATS_PASSWORD", "s3cret-pw")
	t.Setenv("NATS_CREDS", "/secret/user.creds")
	t.Setenv("PASSED_ON", "yes")
	var out strings.Builder
	h, err := Exec(ExecOptions{Argv: []string{"sh", "-c", `env; printf '%s' "--"; cat`}, Env: []string{"PASSED_ON", "NOT_SET_ANYWHERE"}, Forward: "next"})
	require.NoError(t, err)
	payload := "a;b && $(touch x) `id` | c\nsecond line\x00after NUL"
	job := (&jetpool.Job{ID: "j-1", Queue: "q", Batch: "b", Attempt: 2, Payload: []byte(payload)}).WithForwarder(
		func(_ context.Context, _ string, p []byte, _ nats.Header) (string, error) {
			out.Write(p)
			return "f", nil
		})
	require.NoError(t, h.Handle(context.Background(), job))

	env, stdin, found := strings.Cut(out.String(), "--")
	require.True(t, found, out.String())
	assert.Equal(t, payload, stdin, "the payload arrives as is")
	assert.NotContains(t, env, "s3cret-pw")
	assert.NotContains(t, env, "NATS_")
	for _, want := range []string{"PASSED_ON=yes", "JETPOOL_JOB_ID=j-1", "JETPOOL_QUEUE=q", "JETPOOL_BATCH=b", "JETPOOL_ATTEMPT=2", "PATH="} {
		assert.Contains(t, env, want)
	}
	assert.NotContains(t, env, "NOT_SET_ANYWHERE")

	for _, id := range []string{"bad\nid", "nul\x00id", "sp ace"} {
		err := h.Handle(context.Background(), &jetpool.Job{ID: id, Queue: "q", Batch: "b", Attempt: 1})
		require.Error(t, err, "%q", id)
		assert.True(t, errors.Is(err, jetpool.ErrPermanent), "refused for good: %v", err)
	}
	_, err = Exec(ExecOptions{Argv: []string{"true"}, Env: []string{"A=B"}})
	assert.ErrorContains(t, err, `"A=B"`)
}
