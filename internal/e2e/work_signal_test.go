package e2e_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/internal/proctest"
	"github.com/jetpool/jetpool/topology"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The first Ctrl-C on a worker says what it waits for and how to stop at
// once; the second cancels the running job and exits 130 promptly, instead
// of a silent wait for the whole grace.
func TestWorkInterruptedTwiceStopsAtOnce(t *testing.T) {
	url := proctest.StartBroker(t, topology.Options{}, "slow")
	started := filepath.Join(t.TempDir(), "started")
	w := proctest.Start(t, url, nil, "--log-level", "info", "work", "--queue", "slow", "--grace", "30s",
		"--exec", "sh", "-c", `echo $$ > "$0"; sleep 30`, started)
	proctest.EnqueueLines(t, url, "slow", "b", 1)
	natstest.Eventually(t, 15*time.Second, func() bool {
		_, err := os.Stat(started)
		return err == nil
	}, "the job started")

	require.NoError(t, w.Cmd.Process.Signal(syscall.SIGINT))
	const said = "stopping: finishing 1 running job within the grace (30s); interrupt again to stop at once"
	natstest.Eventually(t, 5*time.Second, func() bool { return strings.Contains(w.Stderr.String(), said) },
		"the first interrupt is logged:\n%s", w.Stderr.String())
	select {
	case <-w.Done():
		t.Fatalf("the worker exited on the first interrupt, with the job running:\n%s", w.Stderr.String())
	case <-time.After(500 * time.Millisecond):
	}

	require.NoError(t, w.Cmd.Process.Signal(syscall.SIGINT))
	began := time.Now()
	assert.Equal(t, 130, w.Wait(t, 5*time.Second), w.Stderr.String())
	assert.Less(t, time.Since(began), 3*time.Second, "exits promptly")
	assert.Contains(t, w.Stderr.String(), "job cancelled by shutdown and returned to the queue")
}
