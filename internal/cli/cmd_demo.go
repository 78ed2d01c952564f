package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/jetpool/jetpool/batch"
	"github.com/jetpool/jetpool/topology"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/broker"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/producer"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

// demoOptions size the demo.
type demoOptions struct {
	jobs, cycles, concurrency int
	interval                  time.Duration
}

func (a *app) demoCommand() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a two-stage pipeline on an embedded broker, in one process, and report on it",
		Long: `Run the whole of jetpool in one process: an embedded broker in a temporary
directory, a manager that enqueues --jobs items every cycle into a two-stage
pipeline (parse forwards to store), worker pools for both stages, and a few
injected failures: every tenth item fails once and is retried, and one item
per cycle is poison and ends in the dead-letter stream. Prints one
reconciliation line per cycle and a summary table, then cleans up.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.jobs < 1 || o.cycles < 1 || o.concurrency < 1 {
				return usageError(fmt.Errorf("--jobs %d, --cycles %d and --concurrency %d must all be at least 1", o.jobs, o.cycles, o.concurrency))
			}
			log := a.log
			if !cmd.Flags().Lookup("log-level").Changed && !cmd.Root().PersistentFlags().Lookup("log-level").Changed {
				log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelError}))
			}
			return a.runDemo(cmd.Context(), o, log)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.jobs, "jobs", 200, "items per cycle")
	f.IntVar(&o.cycles, "cycles", 3, "cycles to run")
	f.IntVar(&o.concurrency, "concurrency", 8, "workers per stage")
	f.DurationVar(&o.interval, "interval", 2*time.Second, "cycle interval")
	return cmd
}

func (a *app) runDemo(ctx context.Context, o demoOptions, log *slog.Logger) error {
	dir, err := os.MkdirTemp("", "jetpool-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := broker.Start(broker.Options{StoreDir: dir, Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "jetpool demo: embedded broker at %s, %d cycles of %d items, parse -> store, %d workers per stage\n",
		srv.ClientURL(), o.cycles, o.jobs, o.concurrency)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = topology.Provision(pctx, js, topology.Options{}, "parse", "store")
	cancel()
	if err != nil {
		return err
	}

	backoff := consumer.Backoff{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond}
	parse, err := consumer.New(js, consumer.Config{Queue: "parse", Concurrency: o.concurrency, MaxAttempts: 3, Backoff: backoff, Logger: log},
		jetpool.HandlerFunc(func(ctx context.Context, job *jetpool.Job) error {
			n, _ := strconv.Atoi(string(bytes.TrimPrefix(job.Payload, []byte("item-"))))
			switch {
			case n == 7:
				return errors.New("poison item: cannot be parsed")
			case n%10 == 3 && job.Attempt == 1:
				return errors.New("transient failure")
			}
			_, err := job.Forward(ctx, "store", bytes.ToUpper(job.Payload), nil)
			return err
		}))
	if err != nil {
		return err
	}
	store, err := consumer.New(js, consumer.Config{Queue: "store", Concurrency: o.concurrency, Backoff: backoff, Logger: log},
		jetpool.HandlerFunc(func(ctx context.Context, job *jetpool.Job) error {
			time.Sleep(time.Millisecond) // the work
			return nil
		}))
	if err != nil {
		return err
	}
	for _, p := range []*consumer.Pool{parse, store} {
		if err := p.Start(ctx); err != nil {
			return err
		}
		defer p.Stop(context.Background())
	}

	var mu sync.Mutex
	var cycles []producer.CycleReport
	bar := newProgress(a.stderr, isTerminal(a.stderr), a.log)
	m, err := producer.NewManager(js, producer.ManagerConfig{
		Name: "demo", Queue: "parse", Interval: o.interval, Cycles: o.cycles, Logger: log,
		Source: func(context.Context) ([]producer.Item, error) {
			items := make([]producer.Item, o.jobs)
			for i := range items {
				items[i] = producer.Item{ID: strconv.Itoa(i), Payload: []byte("item-" + strconv.Itoa(i))}
			}
			return items, nil
		},
		Progress: bar.update,
		OnCycle: func(r producer.CycleReport) {
			bar.finish(r.Report)
			mu.Lock()
			cycles = append(cycles, r)
			mu.Unlock()
			if r.Report != nil {
				fmt.Fprintf(a.stdout, "cycle %d  batch %s: expected %d, completed %d, dead %d, pending %d, took %s%s\n",
					len(cycles), r.Batch, r.Report.Expected, r.Report.Completed, r.Report.Dead, r.Report.Pending,
					r.Duration.Round(time.Millisecond), map[bool]string{true: "  (overran the interval)", false: ""}[r.Overrun])
			}
		},
	})
	if err != nil {
		return err
	}
	if err := m.Run(ctx); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return exitWith(ExitFailure, errors.New("demo interrupted"))
	}

	ps, ss := parse.Stats(), store.Stats()
	fmt.Fprintln(a.stdout)
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "cycle\tbatch\texpected\tcompleted\tdead\ttook\t")
	total := batch.Report{}
	for i, c := range cycles {
		r := c.Report
		if r == nil {
			r = &batch.Report{}
		}
		total.Expected += r.Expected
		total.Completed += r.Completed
		total.Dead += r.Dead
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%s\t\n", i+1, c.Batch, r.Expected, r.Completed, r.Dead, c.Duration.Round(time.Millisecond))
	}
	fmt.Fprintf(tw, "total\t\t%d\t%d\t%d\t\t\n", total.Expected, total.Completed, total.Dead)
	_ = tw.Flush()
	fmt.Fprintf(a.stdout, "\nparse: %d completed, %d retried, %d dead; store: %d completed; forwarded %d\n",
		ps.Completed, ps.Failed, ps.Dead, ss.Completed, ps.Forwarded)
	if total.Completed+total.Dead != total.Expected {
		return exitWith(ExitFailure, fmt.Errorf("demo lost track of %d jobs", total.Expected-total.Completed-total.Dead))
	}
	return nil
}
