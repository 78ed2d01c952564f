package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/internal/pgrouptest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A worker whose --exec program outlives --timeout says so in those words,
// and leaves none of the program's processes behind.
func TestWorkExecTimeoutEndsProcessGroup(t *testing.T) {
	pgrouptest.SkipWithoutProc(t)
	env := natstest.Start(t)
	url := env.Server.ClientURL()
	file := filepath.Join(t.TempDir(), "pids")
	t.Setenv("JETPOOL_TEST_PIDS", file)
	var out, errs natstest.Buffer
	require.Equal(t, ExitOK, Main(context.Background(), []string{"--nats-url", url, "provision", "q"}, strings.NewReader(""), &out, &errs), errs.String())
	worker := runInBackground(t, "--nats-url", url, "work", "--queue", "q", "--timeout", "1s", "--max-attempts", "1", "--env", "JETPOOL_TEST_PIDS",
		"--exec", "sh", "-c", pgrouptest.StubbornScript)
	require.Equal(t, ExitOK, Main(context.Background(), []string{"--nats-url", url, "enqueue", "q", "-", "--batch", "b"}, strings.NewReader("x\n"), &out, &errs), errs.String())

	pids := pgrouptest.ReadPIDs(t, file)
	natstest.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(worker.stderr.String(), "job dead-lettered")
	}, "the timed-out job is dead-lettered:\n%s", worker.stderr.String())
	pgrouptest.AllGone(t, pids, 100*time.Millisecond)
	assert.Contains(t, worker.stderr.String(), "sh timed out after 1s")
	assert.NotContains(t, worker.stderr.String(), "killed: context deadline exceeded")

	worker.stop()
	assert.Equal(t, ExitOK, worker.wait(t, 30*time.Second), worker.stderr.String())
}
