package cli

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dlq purge deletes only when told to: on a terminal after a yes to a
// question naming the count, elsewhere with --force; without either it
// refuses and deletes nothing.
func TestDLQPurgeAsksOrNeedsForce(t *testing.T) {
	env := natstest.Start(t)
	url := env.Server.ClientURL()
	ctx := context.Background()
	require.Equal(t, ExitOK, runJetpool(t, ctx, "", "--nats-url", url, "provision", "q").code)
	dead := func(n int) {
		t.Helper()
		for range n {
			_, err := env.JS.Publish(ctx, "jetpool.dead.q.b1", []byte("x"))
			require.NoError(t, err)
		}
	}
	remaining := func() int {
		t.Helper()
		s, err := env.JS.Stream(ctx, "JETPOOL_DEAD")
		require.NoError(t, err)
		info, err := s.Info(ctx, jetstream.WithSubjectFilter("jetpool.dead.q.>"))
		require.NoError(t, err)
		return int(info.State.Msgs)
	}
	// onTerminal runs the command as if stdin were a terminal on which
	// the user types answer.
	onTerminal := func(answer string, args ...string) result {
		t.Helper()
		var stdout, stderr natstest.Buffer
		a := &app{stdin: strings.NewReader(answer), stdout: &stdout, stderr: &stderr, getenv: os.Getenv,
			stdinTerminal: func() bool { return true }}
		code := a.main(ctx, append([]string{"--nats-url", url}, args...))
		return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	}
	dead(3)

	t.Run("refused without a terminal or --force", func(t *testing.T) {
		res := runJetpool(t, ctx, "y\n", "--nats-url", url, "dlq", "purge", "q")
		assert.Equal(t, ExitUsage, res.code)
		assert.Contains(t, res.stderr, "stdin is not a terminal to confirm on, so give --force")
		assert.Equal(t, 3, remaining(), "nothing deleted")
	})
	t.Run("asked on a terminal, answered no", func(t *testing.T) {
		res := onTerminal("n\n", "dlq", "purge", "q")
		assert.Equal(t, ExitFailure, res.code)
		assert.Contains(t, res.stderr, "purge 3 dead letters of q? [y/N]")
		assert.Contains(t, res.stderr, "not confirmed; nothing deleted")
		assert.Empty(t, res.stdout)
		assert.Equal(t, 3, remaining())
		res = onTerminal("", "dlq", "purge", "q")
		assert.Equal(t, ExitFailure, res.code, "no answer is no")
		assert.Equal(t, 3, remaining())
	})
	t.Run("asked on a terminal, answered yes", func(t *testing.T) {
		res := onTerminal("Yes\n", "dlq", "purge", "q", "--json")
		require.Equal(t, ExitOK, res.code, res.stderr)
		assert.Contains(t, res.stderr, "purge 3 dead letters of q? [y/N]")
		assert.JSONEq(t, `{"queue":"q","purged":3}`, res.stdout, "the question goes to stderr, stdout keeps the result")
		assert.Equal(t, 0, remaining())
	})
	t.Run("--force without a terminal", func(t *testing.T) {
		dead(2)
		res := runJetpool(t, ctx, "", "--nats-url", url, "dlq", "purge", "q", "--force")
		require.Equal(t, ExitOK, res.code, res.stderr)
		assert.Equal(t, "purged 2 jobs\n", res.stdout)
		assert.NotContains(t, res.stderr, "[y/N]")
		assert.Equal(t, 0, remaining())
	})
	t.Run("nothing to purge asks nothing", func(t *testing.T) {
		res := onTerminal("", "dlq", "purge", "q")
		require.Equal(t, ExitOK, res.code, res.stderr)
		assert.NotContains(t, res.stderr, "[y/N]")
		assert.Equal(t, "purged 0 jobs\n", res.stdout)
	})
}
