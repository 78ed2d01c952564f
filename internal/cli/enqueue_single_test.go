package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The ID a single enqueue prints names its batch too, as --help says: batch
// show and batch wait accept it.
func TestSingleEnqueuePrintsABatchID(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	url := env.Server.ClientURL()
	ctx := context.Background()
	require.Equal(t, ExitOK, runJetpool(t, ctx, "", "--nats-url", url, "provision", "q").code)
	res := runJetpool(t, ctx, "", "--nats-url", url, "enqueue", "q", "hello")
	require.Equal(t, ExitOK, res.code, res.stderr)
	id := strings.TrimSpace(res.stdout)

	res = runJetpool(t, ctx, "", "--nats-url", url, "batch", "show", id)
	require.Equal(t, ExitOK, res.code, res.stderr)
	assert.Contains(t, res.stdout, "expected 1, completed 0, dead 0, pending 1")

	startWorker(t, url, "--queue", "q", "--builtin", "noop")
	res = runJetpool(t, ctx, "", "--nats-url", url, "batch", "wait", id, "--timeout", "30s")
	require.Equal(t, ExitOK, res.code, res.stderr)
	assert.Contains(t, res.stdout, "(done)")

	res = runJetpool(t, ctx, "", "--nats-url", url, "enqueue", "q", "again", "--id", "j2", "--batch", "several")
	require.Equal(t, ExitOK, res.code, res.stderr)
	res = runJetpool(t, ctx, "", "--nats-url", url, "enqueue", "q", "more", "--id", "j3", "--batch", "several")
	require.Equal(t, ExitOK, res.code, res.stderr)
	res = runJetpool(t, ctx, "", "--nats-url", url, "batch", "wait", "several", "--timeout", "30s")
	require.Equal(t, ExitOK, res.code, res.stderr)
	assert.Contains(t, res.stdout, "expected 2, completed 2")
}
