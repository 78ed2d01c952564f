package cli

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// enqueue - and produce --source-file read lines by one rule: blank lines
// (empty or white space only) are skipped, and a job's ID carries its
// line's number, so skipping a blank line shifts no ID.
func TestBlankLinesSkippedAndIDsKeepLineNumbers(t *testing.T) {
	t.Parallel()
	items, err := linesToItems([]byte("a\n\n  \t\nb\r\n\nc"))
	require.NoError(t, err)
	var ids, payloads []string
	for _, it := range items {
		ids, payloads = append(ids, it.ID), append(payloads, string(it.Payload))
	}
	assert.Equal(t, []string{"1", "4", "6"}, ids)
	assert.Equal(t, []string{"a", "b", "c"}, payloads, "a line ends at \\n or \\r\\n")

	env := natstest.Start(t)
	url := env.Server.ClientURL()
	ctx := context.Background()
	require.Equal(t, ExitOK, runJetpool(t, ctx, "", "--nats-url", url, "provision", "q").code)
	res := runJetpool(t, ctx, "a\n\n   \nb\n", "--nats-url", url, "enqueue", "q", "-", "--batch", "B")
	require.Equal(t, ExitOK, res.code, res.stderr)
	res = runJetpool(t, ctx, "", "--nats-url", url, "batch", "show", "B")
	require.Equal(t, ExitOK, res.code, res.stderr)
	assert.Contains(t, res.stdout, "expected 2,")

	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := env.JS.Stream(cctx, "JETPOOL_JOBS")
	require.NoError(t, err)
	var got []string
	for seq := uint64(1); seq <= 2; seq++ {
		m, err := s.GetMsg(cctx, seq)
		require.NoError(t, err)
		got = append(got, m.Header.Get("Nats-Msg-Id")+"="+string(m.Data))
	}
	assert.Equal(t, []string{"B-1=a", "B-4=b"}, got)

	for _, args := range [][]string{{"enqueue", "--help"}, {"produce", "--help"}} {
		res := runJetpool(t, ctx, "", args...)
		assert.Contains(t, res.stdout, "Blank lines", "%q", args)
	}

	// produce's jobs are named the same way: the cycle's batch, then the line.
	src := filepath.Join(t.TempDir(), "items.txt")
	require.NoError(t, os.WriteFile(src, []byte("x\n\ny\n"), 0o600))
	startWorker(t, url, "--queue", "q", "--builtin", "noop")
	res = runJetpool(t, ctx, "", "--nats-url", url, "produce", "--name", "n", "--queue", "q", "--every", "500ms", "--cycles", "1", "--source-file", src)
	require.Equal(t, ExitOK, res.code, res.stderr)
	assert.Contains(t, res.stderr, "expected=2")
}
