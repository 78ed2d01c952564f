package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/bench"
	"github.com/jetpool/jetpool/internal/cli"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// childEnv makes this test binary run the jetpool command instead of the
// tests: the worker process whose memory the bench measures.
const childEnv = "JETPOOL_BENCH_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}

// worker runs this test binary as `jetpool ARGS...`.
func worker(ctx context.Context, args []string) *exec.Cmd {
	exe, _ := os.Executable()
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	return cmd
}

func TestBenchMeasuresEveryFigure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var mu sync.Mutex
	var finished []string
	res, err := bench.Run(ctx, bench.Options{
		Jobs: 2000, Concurrency: 8, Worker: worker,
		Logger: natstest.Logger(t, slog.LevelWarn),
		Progress: func(p bench.Progress) {
			if p.Finished {
				t.Logf("%s: %d jobs in %s", p.Name, p.Done, p.Elapsed)
				mu.Lock()
				finished = append(finished, p.Name)
				mu.Unlock()
			}
		},
	})
	require.NoError(t, err)

	for name, v := range map[string]float64{
		"publish raw": res.Publish.Raw, "publish jetpool": res.Publish.Jetpool, "publish ratio": res.Publish.Ratio,
		"consume raw": res.Consume.Raw, "consume jetpool": res.Consume.Jetpool, "consume ratio": res.Consume.Ratio,
		"end to end raw": res.EndToEnd.Raw, "end to end jetpool": res.EndToEnd.Jetpool, "end to end ratio": res.EndToEnd.Ratio,
		"latency raw rate": res.Latency.Raw.Achieved, "latency jetpool rate": res.Latency.Jetpool.Achieved,
		"latency raw p50": res.Latency.Raw.P50, "latency raw p99": res.Latency.Raw.P99, "latency raw p99.9": res.Latency.Raw.P999,
		"latency jetpool p50": res.Latency.Jetpool.P50, "latency jetpool p99": res.Latency.Jetpool.P99, "latency jetpool p99.9": res.Latency.Jetpool.P999,
		"latency p50 ratio": res.Latency.P50Ratio, "latency p99 ratio": res.Latency.P99Ratio, "latency p99.9 ratio": res.Latency.P999Ratio,
		"latency raw subject per job rate": res.Latency.SubjectPerJob.Achieved, "latency raw subject per job p50": res.Latency.SubjectPerJob.P50,
		"latency raw subject per job p99": res.Latency.SubjectPerJob.P99, "latency raw subject per job p99.9": res.Latency.SubjectPerJob.P999,
		"latency p50 ratio to subject per job": res.Latency.SubjectPerJobP50Ratio, "latency p99 ratio to subject per job": res.Latency.SubjectPerJobP99Ratio,
		"latency p99.9 ratio to subject per job": res.Latency.SubjectPerJobP999Ratio,
	} {
		require.Greater(t, v, 0.0, name)
	}
	require.NotNil(t, res.Commands, "a worker command: the command pipeline is measured")
	require.NotNil(t, res.CommandsInProcess)
	require.Equal(t, res.EndToEnd.Raw, res.CommandsInProcess.Raw, "the in-process baseline is raw end to end")
	require.Equal(t, res.Commands.Jetpool, res.CommandsInProcess.Jetpool, "one jetpool pipeline, two baselines")
	for name, v := range map[string]float64{"commands raw processes": res.Commands.Raw, "commands jetpool": res.Commands.Jetpool,
		"commands ratio": res.Commands.Ratio, "commands in-process ratio": res.CommandsInProcess.Ratio} {
		require.Greater(t, v, 0.0, name)
	}
	var rawCommands int
	for _, r := range res.Runs {
		if r.Figure == bench.FigureCommands && r.Kind == bench.Raw {
			rawCommands++
			require.Equal(t, 2000, r.Jobs)
		}
	}
	require.Equal(t, 1, rawCommands, "the raw clients ran as processes once")
	require.NotNil(t, res.EnqueueCommand, "a worker command: enqueue - is measured")
	for name, v := range map[string]float64{"enqueue - raw": res.EnqueueCommand.Raw, "enqueue - jetpool": res.EnqueueCommand.Jetpool, "enqueue - ratio": res.EnqueueCommand.Ratio} {
		require.Greater(t, v, 0.0, name)
	}
	require.LessOrEqual(t, res.Latency.Raw.P50, res.Latency.Raw.P99)
	require.LessOrEqual(t, res.Latency.Jetpool.P99, res.Latency.Jetpool.P999)
	require.NotNil(t, res.WorkerRSS)
	require.Greater(t, res.WorkerRSS.PeakBytes, int64(1<<20), "a Go process holds more than 1 MiB")
	require.Equal(t, 2000, res.WorkerRSS.Jobs)
	require.Len(t, res.Runs, 13, "one run of each figure, raw and jetpool, and the raw latency with a subject per job")
	require.Len(t, finished, 14, "every step reports its end: %v", finished)

	out, err := json.Marshal(res)
	require.NoError(t, err)
	var back map[string]any
	require.NoError(t, json.Unmarshal(out, &back))
	for _, key := range []string{"publish", "consume", "end_to_end", "commands_end_to_end", "commands_vs_in_process_raw", "enqueue_command", "latency", "worker_rss", "runs"} {
		require.Contains(t, back, key)
	}
	require.Equal(t, 2000.0, back["jobs"])
	require.Contains(t, back["latency"], "raw_subject_per_job")

	var table bytes.Buffer
	require.NoError(t, bench.WriteTable(&table, res))
	for _, row := range []string{"publish, jobs/s", "consume and ack", "end to end", "commands end to end", "beside raw end to end in process", "enqueue - (a process", "latency p99.9", "half of jetpool end to end", "raw with a subject per job: p99", "worker peak RSS"} {
		require.Contains(t, table.String(), row)
	}
	t.Log("\n" + table.String())
}

func TestBenchRepeatReportsMedians(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := bench.Run(ctx, bench.Options{Jobs: 300, Concurrency: 4, Repeat: 3, LatencyRate: 1500, Logger: natstest.Logger(t, slog.LevelWarn)})
	require.NoError(t, err)
	require.Nil(t, res.WorkerRSS, "no worker command, no memory figure")
	require.Nil(t, res.Commands, "no worker command, no command pipeline figure")
	require.Len(t, res.Runs, 3*9)
	var latencies int
	for _, r := range res.Runs {
		if r.Figure == bench.FigureLatency {
			latencies++
			require.Equal(t, 1500.0, r.Latency.Rate, "%s run %d paced at the rate given", r.Kind, r.Rep)
		}
	}
	require.Equal(t, 3*3, latencies, "raw, jetpool and raw with a subject per job, three times")
	require.Equal(t, 1500.0, res.LatencyRate)
	var pubs []float64
	for _, r := range res.Runs {
		if r.Figure == bench.FigurePublish && r.Kind == bench.Jetpool {
			pubs = append(pubs, r.JobsPerSec)
		}
	}
	require.Len(t, pubs, 3)
	lo, hi := min(pubs[0], pubs[1], pubs[2]), max(pubs[0], pubs[1], pubs[2])
	require.True(t, res.Publish.Jetpool >= lo && res.Publish.Jetpool <= hi, "median %v within %v", res.Publish.Jetpool, pubs)
	require.NotEqual(t, lo, res.Publish.Jetpool, "the median of three is not the lowest")
	var table bytes.Buffer
	require.NoError(t, bench.WriteTable(&table, res))
	require.Contains(t, table.String(), "medians of 3 runs")
	require.Contains(t, table.String(), "median of each alternating pair's ratio")
	require.Contains(t, table.String(), "rate kept (--latency-rate)")
}

func TestBenchRefusesBadOptions(t *testing.T) {
	for _, o := range []bench.Options{{Jobs: -1}, {Concurrency: -2}, {Repeat: -1}, {Payload: 2 << 20}, {LatencyRate: -100}, {LatencyRate: math.NaN()}} {
		_, err := bench.Run(context.Background(), o)
		require.Error(t, err)
		require.False(t, strings.Contains(err.Error(), "connect"), err)
	}
	_, err := bench.Run(context.Background(), bench.Options{LatencyRate: -100})
	require.ErrorContains(t, err, "latency rate -100 jobs/s")
}
