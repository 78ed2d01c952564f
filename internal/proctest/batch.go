package proctest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/topology"
	"github.com/stretchr/testify/require"
)

// StartBroker runs an embedded server for the test, provisions queues on it
// with opts, and returns its client URL.
func StartBroker(t *testing.T, opts topology.Options, queues ...string) string {
	t.Helper()
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, env.JS, opts, queues...))
	return env.Server.ClientURL()
}

// Lines returns n numbered payload lines and the job IDs `enqueue -` gives
// them in batch.
func Lines(batch string, n int) (string, []string) {
	var in strings.Builder
	ids := make([]string, n)
	for i := range n {
		fmt.Fprintf(&in, "payload %d\n", i)
		ids[i] = fmt.Sprintf("%s-%d", batch, i+1)
	}
	return in.String(), ids
}

// EnqueueLines enqueues n lines as one batch through `jetpool enqueue q -`
// and returns the job IDs.
func EnqueueLines(t *testing.T, url, queue, batch string, n int) []string {
	t.Helper()
	in, ids := Lines(batch, n)
	out, code := Run(t, url, in, "enqueue", queue, "-", "--batch", batch)
	require.Equal(t, 0, code)
	require.Equal(t, batch, strings.TrimSpace(out))
	return ids
}

// Report is what `jetpool batch wait --json` prints.
type Report struct {
	Batch     string `json:"batch"`
	Expected  int    `json:"expected"`
	Completed int    `json:"completed"`
	Dead      int    `json:"dead"`
	Pending   int    `json:"pending"`
	ElapsedMS int64  `json:"elapsed_ms"`
}

// WaitBatch runs `jetpool batch wait` for up to 45 s and returns its report
// and exit code.
func WaitBatch(t *testing.T, url, batch string) (Report, int) {
	t.Helper()
	out, code := Run(t, url, "", "batch", "wait", batch, "--json", "--timeout", "45s")
	var r Report
	require.NoError(t, json.Unmarshal([]byte(out), &r), "output: %q", out)
	return r, code
}
