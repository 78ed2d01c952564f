package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/require"
)

// benchChildEnv makes this test binary run the jetpool command instead of
// the tests, for the worker process `jetpool bench` starts through
// os.Executable. It is checked in init, before TestMain and its flags.
const benchChildEnv = "JETPOOL_CLI_TEST_CHILD"

func init() {
	if os.Getenv(benchChildEnv) == "" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func TestBenchCommandPrintsJSON(t *testing.T) {
	t.Setenv(benchChildEnv, "1")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := Main(ctx, []string{"bench", "--jobs", "1000", "--concurrency", "8", "--latency-rate", "800", "--json"}, strings.NewReader(""), &stdout, &stderr)
	require.Equal(t, ExitOK, code, "stderr: %s", &stderr)

	var res struct {
		Jobs              int `json:"jobs"`
		Publish           map[string]float64
		Consume           map[string]float64
		EndToEnd          map[string]float64 `json:"end_to_end"`
		Commands          map[string]float64 `json:"commands_end_to_end"`
		CommandsInProcess map[string]float64 `json:"commands_vs_in_process_raw"`
		EnqueueCommand    map[string]float64 `json:"enqueue_command"`
		Latency           struct {
			Raw, Jetpool  map[string]float64
			SubjectPerJob map[string]float64 `json:"raw_subject_per_job"`
		}
		WorkerRSS map[string]float64 `json:"worker_rss"`
	}
	dec := json.NewDecoder(&stdout)
	require.NoError(t, dec.Decode(&res), "stdout is one JSON object")
	require.False(t, dec.More(), "and nothing else")
	require.Equal(t, 1000, res.Jobs)
	for name, fig := range map[string]map[string]float64{"publish": res.Publish, "consume": res.Consume, "end_to_end": res.EndToEnd, "commands_end_to_end": res.Commands, "commands_vs_in_process_raw": res.CommandsInProcess, "enqueue_command": res.EnqueueCommand} {
		for _, k := range []string{"raw_jobs_per_sec", "jetpool_jobs_per_sec", "ratio"} {
			require.Greater(t, fig[k], 0.0, "%s %s", name, k)
		}
	}
	for _, k := range []string{"p50_ms", "p99_ms", "p999_ms"} {
		require.Greater(t, res.Latency.Raw[k], 0.0, "raw %s", k)
		require.Greater(t, res.Latency.Jetpool[k], 0.0, "jetpool %s", k)
		require.Greater(t, res.Latency.SubjectPerJob[k], 0.0, "raw with a subject per job %s", k)
	}
	for name, l := range map[string]map[string]float64{"raw": res.Latency.Raw, "jetpool": res.Latency.Jetpool, "raw with a subject per job": res.Latency.SubjectPerJob} {
		require.Equal(t, 800.0, l["rate_per_sec"], "%s paced at --latency-rate", name)
	}
	require.Greater(t, res.WorkerRSS["peak_rss_bytes"], 0.0)
	// Not a terminal: a line per step instead of a bar.
	require.Contains(t, stderr.String(), "[1/14] raw publish: 1000 jobs in")
	require.Contains(t, stderr.String(), "[7/14] raw publish process: 1000 jobs in")
	require.Contains(t, stderr.String(), "[8/14] jetpool enqueue -: 1000 jobs in")
	require.Contains(t, stderr.String(), "[9/14] raw commands end to end: 1000 jobs in")
	require.Contains(t, stderr.String(), "[10/14] jetpool commands end to end: 1000 jobs in")
	require.Contains(t, stderr.String(), "[13/14] raw-subject-per-job latency at 800 jobs/s: 1000 jobs in")
	require.Contains(t, stderr.String(), "[14/14] worker memory")
}

func TestBenchCommandRefusesBadFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"bench", "--jobs", "0"}, strings.NewReader(""), &stdout, &stderr)
	require.Equal(t, ExitUsage, code)
	require.Contains(t, stderr.String(), "jobs 0 must be at least 1")
}

func TestBenchCommandOnAGivenServerLeavesNothing(t *testing.T) {
	t.Setenv(benchChildEnv, "1")
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := Main(ctx, []string{"bench", "--nats-url", env.Server.ClientURL(), "--jobs", "500", "--concurrency", "4"},
		strings.NewReader(""), &stdout, &stderr)
	require.Equal(t, ExitOK, code, "stderr: %s", &stderr)
	require.Contains(t, stdout.String(), "at the URL given")
	require.Contains(t, stdout.String(), "worker peak RSS")

	var left []string
	for name := range env.JS.StreamNames(ctx).Name() {
		left = append(left, name)
	}
	require.Empty(t, left, "the bench deletes every stream and bucket it made")
}
