package cli

import (
	"context"
	"encoding/json"
	"regexp"
	"testing"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What batch and dlq print for people: the elapsed time of a finished
// batch, an empty dead-letter queue said in words, a dead job shown as
// fields and text (JSON with --json).
func TestReportsReadable(t *testing.T) {
	env := natstest.Start(t)
	url := env.Server.ClientURL()
	ctx := context.Background()
	require.Equal(t, ExitOK, runJetpool(t, ctx, "", "--nats-url", url, "provision", "ok", "dead").code)
	startWorker(t, url, "--queue", "ok", "--builtin", "sleep=50ms")
	startWorker(t, url, "--queue", "dead", "--exec", "sh", "-c", "echo 'no such customer' >&2; exit 65")

	require.Equal(t, ExitOK, runJetpool(t, ctx, "a\nb\n", "--nats-url", url, "enqueue", "ok", "-", "--batch", "fin").code)
	res := runJetpool(t, ctx, "", "--nats-url", url, "batch", "wait", "fin", "--timeout", "30s")
	require.Equal(t, ExitOK, res.code, res.stderr)
	elapsed := regexp.MustCompile(`elapsed (\S+)`)
	for _, cmd := range [][]string{{"batch", "show", "fin"}, {"batch", "wait", "fin"}} {
		res := runJetpool(t, ctx, "", append([]string{"--nats-url", url}, cmd...)...)
		require.Equal(t, ExitOK, res.code, res.stderr)
		m := elapsed.FindStringSubmatch(res.stdout)
		require.NotNil(t, m, res.stdout)
		assert.NotEqual(t, "0s", m[1], "a finished batch keeps its elapsed time: %q", cmd)
	}

	res = runJetpool(t, ctx, "", "--nats-url", url, "dlq", "ls", "ok")
	require.Equal(t, ExitOK, res.code, res.stderr)
	assert.Equal(t, "no dead jobs in queue ok\n", res.stdout)
	res = runJetpool(t, ctx, "", "--nats-url", url, "dlq", "ls", "ok", "--json")
	assert.Equal(t, "[]\n", res.stdout)

	require.Equal(t, ExitOK, runJetpool(t, ctx, "order 17\n", "--nats-url", url, "enqueue", "dead", "-", "--batch", "d").code)
	assert.Equal(t, ExitDead, runJetpool(t, ctx, "", "--nats-url", url, "batch", "wait", "d", "--timeout", "30s").code)
	res = runJetpool(t, ctx, "", "--nats-url", url, "dlq", "show", "dead", "d-1")
	require.Equal(t, ExitOK, res.code, res.stderr)
	for _, want := range []string{"job       d-1\n", "queue     dead\n", "batch     d\n", "attempts  1\n", "dead at   ", "error     ", "no such customer", "payload   8 bytes\n", "\norder 17\n"} {
		assert.Contains(t, res.stdout, want)
	}
	assert.NotContains(t, res.stdout, "{")
	res = runJetpool(t, ctx, "", "--nats-url", url, "dlq", "show", "dead", "d-1", "--json")
	require.Equal(t, ExitOK, res.code, res.stderr)
	var shown map[string]any
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &shown), res.stdout)
	assert.Equal(t, "d-1", shown["job_id"])
	assert.Equal(t, "order 17", shown["payload_text"])
}
