package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/internal/capped"
	"github.com/jetpool/jetpool/manager"
	"github.com/jetpool/jetpool/metrics"
	"github.com/jetpool/jetpool/producer"
	"github.com/jetpool/jetpool/topology"
	"github.com/spf13/cobra"
)

// produceCmd is `jetpool produce`.
type produceCmd struct {
	a                                    *app
	name, queueFlag, sourceFile, metrics string
	every                                time.Duration
	cycles                               int
	sourceCmd, provision                 bool
}

func (a *app) produceCommand() *cobra.Command {
	c := &produceCmd{a: a}
	cmd := &cobra.Command{
		Use:   "produce QUEUE --name N [--every D] (--source-cmd PROGRAM [ARGS...] | --source-file FILE)",
		Short: "Run the periodic manager: every interval, enqueue a source's lines as a batch and wait for it",
		Long: `Run the periodic manager of QUEUE. Every --every (or the config file's
pools.QUEUE.interval), it starts a cycle whose jobs are the output lines of
--source-cmd (run once per cycle; everything after --source-cmd is its command
line, so QUEUE comes before it) or the lines of --source-file (read once per
cycle). Blank lines (empty or white space only) are skipped; a job's ID is
the cycle's batch ID and its line's number, so removing a blank line renames
no job. One manager per --name leads across all processes; others stand by.
Each cycle logs its reconciliation report, and a warning when it outlasts the
interval.

The producer never creates the streams or buckets: until "jetpool provision"
(or "jetpool broker") has created them it waits, logging what is missing. With
--provision it creates whatever is missing (replicas from the config file, 1
by default) and changes nothing that exists; leave it off in a cluster where
"jetpool provision" owns the topology.

  jetpool produce nightly --name nightly --every 1h --source-cmd ./list-files.sh`,
		Args: cobra.ArbitraryArgs,
		RunE: c.run,
	}
	f := cmd.Flags()
	f.SetInterspersed(false) // everything after --source-cmd belongs to the program
	f.StringVar(&c.name, "name", "", "manager name; one leader per name (required)")
	f.StringVar(&c.queueFlag, "queue", "", "queue to fill")
	hideOld(f, "queue", "the queue as an argument: produce QUEUE")
	f.DurationVar(&c.every, "every", 0, "interval between cycle starts (default: the config file's pools.QUEUE.interval; one of the two is required)")
	f.BoolVar(&c.sourceCmd, "source-cmd", false, "run PROGRAM [ARGS...] (the rest of the command line) each cycle; its stdout lines are the jobs")
	f.StringVar(&c.sourceFile, "source-file", "", "file whose lines are each cycle's jobs")
	f.IntVar(&c.cycles, "cycles", 0, "stop after this many cycles (default: run until stopped)")
	f.BoolVar(&c.provision, "provision", false, "create the streams, buckets and the queue's consumer when missing, instead of waiting for them")
	f.StringVar(&c.metrics, "metrics", "", "serve Prometheus metrics, /healthz and /readyz on HOST:PORT")
	return cmd
}

func (c *produceCmd) run(cmd *cobra.Command, args []string) error {
	a := c.a
	queues, program, err := a.parseInterleaved(cmd, args, &c.sourceCmd)
	if err != nil {
		return err
	}
	if helpAsked(cmd) {
		return cmd.Help()
	}
	a.warnOldSpellings(cmd)
	if c.queueFlag != "" {
		queues = append(queues, c.queueFlag)
	}
	if len(queues) != 1 {
		return usageError(fmt.Errorf("give one queue: produce QUEUE (got %d)", len(queues)))
	}
	queue := queues[0]
	for kind, v := range map[string]string{"--name": c.name, "queue": queue} {
		if err := jetpool.ValidateName(kind, v); err != nil {
			return usageError(err)
		}
	}
	if cmd.Flags().Changed("every") && c.every <= 0 {
		return usageError(fmt.Errorf("--every %s must be positive", c.every))
	}
	cfg, _, err := a.loadConfig()
	if err != nil {
		return err
	}
	interval := pickDur(c.every, cfg.Pool(queue).Interval)
	if interval <= 0 {
		return usageError(fmt.Errorf("give --every D or pools.%s.interval in the config file", queue))
	}
	if c.sourceCmd == (c.sourceFile != "") {
		return usageError(errors.New("give exactly one source: --source-cmd PROGRAM [ARGS...] or --source-file FILE"))
	}
	var src manager.Source
	if c.sourceCmd {
		if len(program) == 0 {
			return usageError(errors.New("--source-cmd needs a program"))
		}
		path, err := exec.LookPath(program[0])
		if err != nil {
			return usageError(fmt.Errorf("--source-cmd program %q: %w", program[0], err))
		}
		src = commandSource(path, program[1:])
	} else {
		if _, err := os.Stat(c.sourceFile); err != nil {
			return usageError(fmt.Errorf("--source-file: %w", err))
		}
		src = fileSource(c.sourceFile)
	}
	s, err := a.connectWaiting(cmd.Context())
	if err != nil {
		return err
	}
	defer s.close()
	if c.provision {
		err = createMissing(cmd.Context(), s, queue)
	} else {
		err = awaitProducerTopology(cmd.Context(), s, a.log, queue)
	}
	if err != nil {
		return err
	}
	obs, err := a.observe(cmd.Context(), c.metrics, s.nc, s.js, s.names)
	if err != nil {
		return err
	}
	defer obs.close()
	m, err := manager.New(s.js, manager.Options{
		Name: c.name, Queue: queue, Interval: interval, Source: src,
		Cycles: c.cycles, Names: s.names, Logger: a.log,
		OnCycle: func(r manager.CycleReport) {
			obs.metrics.ObserveCycle(queue, r.Duration)
			a.logCycle(r)
		},
	})
	if err != nil {
		return exitWith(ExitUsage, err)
	}
	obs.metrics.WatchManager(c.name, queue, func() metrics.ManagerStats { return metrics.ManagerStats(m.Stats()) })
	return m.Run(cmd.Context())
}

// awaitProducerTopology waits until the streams and buckets a manager uses
// exist, logging what is missing, or ctx ends.
func awaitProducerTopology(ctx context.Context, s *session, log *slog.Logger, queue string) error {
	w := topology.Waiter{Logger: log, Hint: fmt.Sprintf(`run "jetpool provision %s" or start produce with --provision`, queue)}
	return w.Wait(ctx, func(ctx context.Context) error {
		if _, _, err := topology.OpenStreams(ctx, s.js, s.names); err != nil {
			return err
		}
		if _, err := topology.OpenBatches(ctx, s.js, s.names); err != nil {
			return err
		}
		_, err := topology.OpenLeases(ctx, s.js, s.names)
		return err
	})
}

func (a *app) logCycle(r manager.CycleReport) {
	attrs := []any{"batch", r.Batch, "took", r.Duration.Round(time.Millisecond), "overrun", r.Overrun}
	if rep := r.Report; rep != nil {
		attrs = append(attrs, "expected", rep.Expected, "completed", rep.Completed, "dead", rep.Dead, "pending", rep.Pending)
	}
	if r.Err != nil {
		a.log.Error("cycle", append(attrs, "error", r.Err)...)
		return
	}
	a.log.Info("cycle", attrs...)
}

func commandSource(path string, args []string) manager.Source {
	return func(ctx context.Context) ([]producer.Item, error) {
		cmd := exec.CommandContext(ctx, path, args...)
		stderr := capped.Buffer{Limit: 4096}
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("source %s: %w: %s", path, err, bytes.TrimSpace(stderr.Bytes()))
		}
		return linesToItems(out)
	}
}

func fileSource(path string) manager.Source {
	return func(context.Context) ([]producer.Item, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return linesToItems(data)
	}
}
