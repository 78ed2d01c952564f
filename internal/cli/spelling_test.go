package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A flag name means one thing in every command: --timeout is how long a
// command waits before it gives up, and a name never takes values of two
// kinds.
func TestFlagNamesMeanOneThing(t *testing.T) {
	a := &app{stdout: &natstest.Buffer{}, stderr: &natstest.Buffer{}, getenv: os.Getenv}
	kinds := map[string]map[string][]string{} // flag, value type, commands
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Hidden {
				return
			}
			if kinds[f.Name] == nil {
				kinds[f.Name] = map[string][]string{}
			}
			kinds[f.Name][f.Value.Type()] = append(kinds[f.Name][f.Value.Type()], c.CommandPath())
			if f.Name == "timeout" {
				assert.True(t, strings.HasPrefix(f.Usage, "give up after this long"), "%s --timeout: %s", c.CommandPath(), f.Usage)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(a.rootCommand())
	for name, types := range kinds {
		assert.Len(t, types, 1, "--%s takes values of different kinds: %v", name, types)
	}
	assert.NotEmpty(t, kinds["job-timeout"]["duration"])
}

// The old spellings of renamed flags are hidden from the help but still
// work.
func TestOldSpellingsHidden(t *testing.T) {
	for cmd, want := range map[string][2]string{
		"work":   {"--job-timeout", "--timeout"},
		"broker": {"--monitor-listen", "--http"},
		"demo":   {"--every", "--interval"},
	} {
		res := runJetpool(t, context.Background(), "", cmd, "--help")
		require.Equal(t, ExitOK, res.code, res.stderr)
		assert.Contains(t, res.stdout, want[0], cmd)
		assert.NotContains(t, res.stdout, want[1]+" ", cmd)
	}
	res := runJetpool(t, context.Background(), "", "work", "--help")
	assert.NotContains(t, res.stdout, "--queue")
	assert.Contains(t, res.stdout, "jetpool work QUEUE[=N]...")
	res = runJetpool(t, context.Background(), "", "work", "q", "--help")
	assert.Equal(t, ExitOK, res.code, "--help after a queue")
	assert.Contains(t, res.stdout, "--job-timeout")
}

// Queues are arguments of work and produce, as of every other command;
// --queue still works and logs what to write instead, and so does --timeout,
// the old spelling of --job-timeout.
func TestWorkAndProduceTakeQueueArguments(t *testing.T) {
	env := natstest.Start(t)
	url := env.Server.ClientURL()
	ctx := context.Background()
	newer := runInBackground(t, "--nats-url", url, "work", "a=2", "b", "--job-timeout", "300ms", "--max-attempts", "1",
		"--provision", "--exec", "sleep", "5")
	older := runInBackground(t, "--nats-url", url, "work", "--queue", "c", "--timeout", "300ms", "--max-attempts", "1",
		"--provision", "--exec", "sleep", "5")
	natstest.Eventually(t, 15*time.Second, func() bool {
		return strings.Count(newer.stderr.String(), "worker pool started") == 2 &&
			strings.Count(older.stderr.String(), "worker pool started") == 1
	}, "the pools start: %s\n%s", newer.stderr.String(), older.stderr.String())
	assert.Contains(t, newer.stderr.String(), "queue=a concurrency=2")
	assert.Contains(t, newer.stderr.String(), "queue=b concurrency=4")
	assert.NotContains(t, newer.stderr.String(), "old spelling")
	assert.Contains(t, older.stderr.String(), "--queue is an old spelling: write the queue as an argument")
	assert.Contains(t, older.stderr.String(), "--timeout is an old spelling: write --job-timeout instead")
	for _, q := range []string{"a", "b", "c"} {
		require.Equal(t, ExitOK, runJetpool(t, ctx, "", "--nats-url", url, "enqueue", q, "x", "--id", "job-"+q).code)
		res := runJetpool(t, ctx, "", "--nats-url", url, "batch", "wait", "job-"+q, "--timeout", "30s")
		assert.Equal(t, ExitDead, res.code, "%s: the job outlives its timeout and its one attempt: %s", q, res.stderr)
	}

	src := filepath.Join(t.TempDir(), "items.txt")
	require.NoError(t, os.WriteFile(src, []byte("x\ny\n"), 0o600))
	startWorker(t, url, "p", "--builtin", "noop", "--provision")
	res := runJetpool(t, ctx, "", "--nats-url", url, "--log-level", "info", "produce", "p", "--name", "n", "--every", "200ms",
		"--cycles", "1", "--provision", "--source-file", src)
	require.Equal(t, ExitOK, res.code, res.stderr)
	assert.Contains(t, res.stderr, "completed=2")

	res = runJetpool(t, ctx, "", "--nats-url", url, "produce", "p", "--queue", "p2", "--name", "n", "--every", "200ms", "--source-file", src)
	assert.Equal(t, ExitUsage, res.code)
	assert.Contains(t, res.stderr, "give one queue")
}

// health gives up after --timeout, as batch wait does, with exit 2.
func TestHealth(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer ok.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no meta leader", http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	stuck := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer stuck.Close()
	ctx := context.Background()

	assert.Equal(t, ExitOK, runJetpool(t, ctx, "", "health", ok.URL, ok.URL).code)
	res := runJetpool(t, ctx, "", "health", ok.URL, failing.URL)
	assert.Equal(t, ExitFailure, res.code)
	assert.Contains(t, res.stderr, "503 Service Unavailable: no meta leader")
	res = runJetpool(t, ctx, "", "health", "--timeout", "200ms", stuck.URL)
	assert.Equal(t, ExitTimeout, res.code)
	assert.Contains(t, res.stderr, "no answer within --timeout 200ms")
	res = runJetpool(t, ctx, "", "health", "http://127.0.0.1:1/healthz")
	assert.Equal(t, ExitUnavailable, res.code)
}
