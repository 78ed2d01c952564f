package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// background runs the command until stop is called or it ends by itself.
type background struct {
	stderr natstest.Buffer
	stop   context.CancelFunc
	done   chan int
}

func runInBackground(t *testing.T, args ...string) *background {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	b := &background{stop: stop, done: make(chan int, 1)}
	go func() { b.done <- Main(ctx, args, strings.NewReader(""), &natstest.Buffer{}, &b.stderr) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-b.done:
		case <-time.After(30 * time.Second):
			t.Errorf("jetpool %v did not stop", args)
		}
	})
	return b
}

func (b *background) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case code := <-b.done:
		b.done <- code
		return code
	case <-time.After(timeout):
		t.Fatalf("still running after %s; stderr:\n%s", timeout, b.stderr.String())
		return -1
	}
}

func jetpoolStreams(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l := js.StreamNames(ctx)
	var out []string
	for n := range l.Name() {
		out = append(out, n)
	}
	require.NoError(t, l.Err())
	return out
}

// work and produce started before provisioning create nothing: they wait,
// saying what is missing and what to do, and run once `provision` has run.
func TestWorkAndProduceWaitForProvisioning(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	url := env.Server.ClientURL()
	src := filepath.Join(t.TempDir(), "items.txt")
	require.NoError(t, os.WriteFile(src, []byte("a\nb\nc\n"), 0o600))

	worker := runInBackground(t, "--nats-url", url, "work", "--queue", "q", "--builtin", "noop")
	prod := runInBackground(t, "--nats-url", url, "produce", "--name", "n", "--queue", "q", "--every", "200ms",
		"--cycles", "1", "--source-file", src)
	natstest.Eventually(t, 15*time.Second, func() bool {
		return strings.Contains(worker.stderr.String(), `waiting for the jetpool topology: stream JETPOOL_JOBS not found; run \"jetpool provision q\" or start workers with --provision`) &&
			strings.Contains(prod.stderr.String(), `waiting for the jetpool topology: stream JETPOOL_JOBS not found; run \"jetpool provision q\" or start produce with --provision`)
	}, "work and produce say what they wait for:\nwork: %s\nproduce: %s", worker.stderr.String(), prod.stderr.String())
	assert.Empty(t, jetpoolStreams(t, env.JS), "nothing was created")

	var out, errs natstest.Buffer
	require.Equal(t, ExitOK, Main(context.Background(), []string{"--nats-url", url, "provision", "q"}, strings.NewReader(""), &out, &errs), errs.String())
	require.Equal(t, ExitOK, prod.wait(t, 30*time.Second), prod.stderr.String())
	assert.Contains(t, prod.stderr.String(), "completed=3", prod.stderr.String())
	assert.Contains(t, worker.stderr.String(), "jetpool topology ready")

	worker.stop()
	assert.Equal(t, ExitOK, worker.wait(t, 30*time.Second), worker.stderr.String())
}

// enqueue on an unprovisioned server waits for its deadline, then names
// what is missing; it creates nothing.
func TestEnqueueWithoutTopologyNamesWhatIsMissing(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	var out, errs natstest.Buffer
	code := Main(context.Background(), []string{"--nats-url", env.Server.ClientURL(), "enqueue", "q", "-", "--batch", "b"},
		strings.NewReader("a\n"), &out, &errs)
	assert.NotEqual(t, ExitOK, code)
	assert.Contains(t, errs.String(), `stream JETPOOL_JOBS not found; run \"jetpool provision QUEUE\"`)
	assert.Empty(t, jetpoolStreams(t, env.JS))
}

// work --provision creates what is missing on a fresh server and runs.
func TestWorkProvisionCreatesTopology(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	url := env.Server.ClientURL()
	runInBackground(t, "--nats-url", url, "work", "--queue", "q", "--builtin", "noop", "--provision")
	natstest.Eventually(t, 15*time.Second, func() bool { return len(jetpoolStreams(t, env.JS)) == 6 }, "work --provision created the topology: two streams, four buckets")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	natstest.Eventually(t, 15*time.Second, func() bool {
		_, err := env.JS.Consumer(ctx, "JETPOOL_JOBS", "q")
		return err == nil
	}, "the queue's consumer exists")

	var out, errs natstest.Buffer
	require.Equal(t, ExitOK, Main(context.Background(), []string{"--nats-url", url, "enqueue", "q", "-", "--batch", "b"},
		strings.NewReader("a\nb\n"), &out, &errs), errs.String())
	out, errs = natstest.Buffer{}, natstest.Buffer{}
	assert.Equal(t, ExitOK, Main(context.Background(), []string{"--nats-url", url, "batch", "wait", "b", "--timeout", "30s"},
		strings.NewReader(""), &out, &errs), errs.String())
	assert.Contains(t, out.String(), "completed 2")
}
