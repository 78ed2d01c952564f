package cli

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// decode parses a command's stdout as one JSON object.
func decode(t *testing.T, res result) map[string]any {
	t.Helper()
	require.Equal(t, ExitOK, res.code, res.stderr)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &m), res.stdout)
	return m
}

// Every command that prints a result prints it as one JSON object with
// --json.
func TestJSONResults(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	url := env.Server.ClientURL()
	ctx := context.Background()
	run := func(stdin string, args ...string) map[string]any {
		t.Helper()
		return decode(t, runJetpool(t, ctx, stdin, append([]string{"--nats-url", url}, args...)...))
	}

	m := run("", "provision", "q", "dead", "--json")
	assert.Equal(t, "JETPOOL_JOBS", m["work_stream"])
	assert.Equal(t, "JETPOOL_DEAD", m["dead_stream"])
	assert.EqualValues(t, 1, m["replicas"])
	assert.Equal(t, []any{"q", "dead"}, m["queues"])

	m = run("", "enqueue", "q", "hello", "--id", "j1", "--json")
	assert.Equal(t, map[string]any{"job_id": "j1", "queue": "q", "batch": "j1"}, m)

	m = run("a\n\nb\n", "enqueue", "q", "-", "--batch", "B", "--json")
	assert.Equal(t, "B", m["batch"])
	assert.Equal(t, "q", m["queue"])
	assert.EqualValues(t, 2, m["jobs"])
	assert.EqualValues(t, 2, m["enqueued"])
	assert.EqualValues(t, 0, m["repeated"])
	m = run("a\n\nb\n", "enqueue", "q", "-", "--batch", "B", "--json")
	assert.EqualValues(t, 0, m["enqueued"])
	assert.EqualValues(t, 2, m["repeated"], "a re-run stores nothing new")

	startWorker(t, url, "--queue", "dead", "--builtin", "fail=1", "--max-attempts", "1")
	require.Equal(t, ExitOK, runJetpool(t, ctx, "x\ny\nz\n", "--nats-url", url, "enqueue", "dead", "-", "--batch", "D").code)
	assert.Equal(t, ExitDead, runJetpool(t, ctx, "", "--nats-url", url, "batch", "wait", "D", "--timeout", "30s").code)

	m = run("", "dlq", "retry", "dead", "D-1", "--json")
	assert.Equal(t, map[string]any{"queue": "dead", "retried": float64(1), "job_ids": []any{"D-1"}}, m)
	m = run("", "dlq", "retry", "dead", "--all", "--json")
	assert.Equal(t, "dead", m["queue"])
	assert.GreaterOrEqual(t, m["retried"], float64(2), "the two others, and D-1 if it died again")
	m = run("", "dlq", "purge", "dead", "--force", "--json")
	assert.Equal(t, "dead", m["queue"])
	assert.IsType(t, float64(0), m["purged"])
}

// An argument error prints the command's usage line and where to read
// more; a bad configuration file does not.
func TestArgumentErrorsPrintUsage(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"enqueue"}, "usage: jetpool enqueue QUEUE [PAYLOAD | -] [flags]"},
		{[]string{"enqueue", "a b", "x"}, "usage: jetpool enqueue QUEUE [PAYLOAD | -] [flags]"},
		{[]string{"dlq", "retry", "q"}, "usage: jetpool dlq retry QUEUE (ID | --all) [flags]"},
		{[]string{"batch", "wait", "b", "--no-such-flag"}, "usage: jetpool batch wait BATCH [flags]"},
		{[]string{"work", "--queue", "q"}, "usage: jetpool work QUEUE[=N]... (--exec PROGRAM [ARGS...] | --http URL | --builtin SPEC) [flags]"},
		{[]string{"work", "q"}, "usage: jetpool work QUEUE[=N]... (--exec PROGRAM [ARGS...] | --http URL | --builtin SPEC) [flags]"},
		{[]string{"produce", "--name", "n", "--queue", "q", "--every", "1s"}, "usage: jetpool produce"},
		{[]string{"produce", "q", "--name", "n", "--every", "1s"}, "usage: jetpool produce"},
	} {
		res := runJetpool(t, ctx, "", tc.args...)
		assert.Equal(t, ExitUsage, res.code, "%q", tc.args)
		assert.Contains(t, res.stderr, tc.want, "%q", tc.args)
		assert.Contains(t, res.stderr, "jetpool "+tc.args[0], "%q", tc.args)
		assert.Contains(t, res.stderr, "--help' for more", "%q", tc.args)
	}
	res := runJetpool(t, ctx, "", "--config", writeConfig(t, "pools:\n  q:\n    concurency: 1\n"), "status")
	assert.Equal(t, ExitUsage, res.code)
	assert.Contains(t, res.stderr, "did you mean concurrency?")
	assert.NotContains(t, res.stderr, "usage:")
}
