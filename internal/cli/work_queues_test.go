package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// One work process serves several queues, each with its own concurrency,
// its program telling them apart by JETPOOL_QUEUE.
func TestWorkServesSeveralQueues(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	url := env.Server.ClientURL()
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "seen")
	require.NoError(t, os.WriteFile(out, nil, 0o600))
	worker := runInBackground(t, "--nats-url", url, "work", "--queue", "resize=3", "--queue", "mail", "--concurrency", "2",
		"--provision", "--exec", "sh", "-c", `echo "$JETPOOL_QUEUE $(cat)" >> "$0"`, out)
	natstest.Eventually(t, 15*time.Second, func() bool {
		return strings.Count(worker.stderr.String(), "worker pool started") == 2
	}, "both pools start: %s", worker.stderr.String())
	assert.Contains(t, worker.stderr.String(), "queue=resize concurrency=3")
	assert.Contains(t, worker.stderr.String(), "queue=mail concurrency=2")

	for _, q := range []string{"resize", "mail"} {
		require.Equal(t, ExitOK, runJetpool(t, ctx, "a\nb\n", "--nats-url", url, "enqueue", q, "-", "--batch", q).code)
		res := runJetpool(t, ctx, "", "--nats-url", url, "batch", "wait", q, "--timeout", "30s")
		require.Equal(t, ExitOK, res.code, res.stderr)
	}
	seen, err := os.ReadFile(out)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(seen)), "\n")
	assert.ElementsMatch(t, []string{"resize a", "resize b", "mail a", "mail b"}, lines)

	worker.stop()
	assert.Equal(t, ExitOK, worker.wait(t, 30*time.Second), worker.stderr.String())

	for _, args := range [][]string{
		{"--queue", "a", "--queue", "a"}, {"--queue", "a=0"}, {"--queue", "a=many"}, {"--queue", "a.b"},
	} {
		res := runJetpool(t, ctx, "", append(append([]string{"--nats-url", url, "work"}, args...), "--builtin", "noop")...)
		assert.Equal(t, ExitUsage, res.code, "%q: %s", args, res.stderr)
		assert.Contains(t, res.stderr, "--queue", "%q", args)
	}
}
