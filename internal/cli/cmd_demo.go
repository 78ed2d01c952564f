package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jetpool/jetpool/batch"
	"github.com/jetpool/jetpool/manager"
	"github.com/jetpool/jetpool/topology"

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

// demoCmd is `jetpool demo`.
type demoCmd struct {
	a *app
	o demoOptions
}

func (a *app) demoCommand() *cobra.Command {
	c := &demoCmd{a: a}
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
		RunE: c.run,
	}
	f := cmd.Flags()
	f.IntVar(&c.o.jobs, "jobs", 200, "items per cycle")
	f.IntVar(&c.o.cycles, "cycles", 3, "cycles to run")
	f.IntVar(&c.o.concurrency, "concurrency", 8, "workers per stage")
	f.DurationVar(&c.o.interval, "every", 2*time.Second, "interval between cycle starts")
	oldSpelling(f, "interval", "every")
	return cmd
}

func (c *demoCmd) run(cmd *cobra.Command, _ []string) error {
	o := c.o
	c.a.warnOldSpellings(cmd)
	if o.jobs < 1 || o.cycles < 1 || o.concurrency < 1 {
		return usageError(fmt.Errorf("--jobs %d, --cycles %d and --concurrency %d must all be at least 1", o.jobs, o.cycles, o.concurrency))
	}
	log := c.a.log
	if !cmd.Flags().Lookup("log-level").Changed && !cmd.Root().PersistentFlags().Lookup("log-level").Changed {
		log = slog.New(slog.NewTextHandler(c.a.stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	return c.a.runDemo(cmd.Context(), o, log)
}

func (a *app) runDemo(ctx context.Context, o demoOptions, log *slog.Logger) (err error) {
	// The demo prints as it goes; out keeps the first failed write, which
	// the demo returns at its end.
	out := &errWriter{w: a.stdout}
	defer func() {
		if err == nil {
			err = out.err
		}
	}()
	dir, err := os.MkdirTemp("", "jetpool-demo-")
	if err != nil {
		return err
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			a.log.Warn("demo: temporary store not removed", "dir", dir, "error", err)
		}
	}()
	srv, err := broker.Start(broker.Options{StoreDir: dir, Logger: log})
	if err != nil {
		return err
	}
	defer a.stopBroker(srv)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "jetpool demo: embedded broker at %s, %d cycles of %d items, parse -> store, %d workers per stage\n",
		srv.ClientURL(), o.cycles, o.jobs, o.concurrency)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = topology.Provision(pctx, js, topology.Options{}, "parse", "store")
	cancel()
	if err != nil {
		return err
	}

	backoff := consumer.Backoff{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond}
	parse, err := consumer.New(js, consumer.Options{Queue: "parse", Concurrency: o.concurrency, MaxAttempts: 3, Backoff: backoff, Logger: log, Handler: jetpool.HandlerFunc(func(ctx context.Context, job *jetpool.Job) error {
		n, err := strconv.Atoi(string(bytes.TrimPrefix(job.Payload, []byte("item-"))))
		switch {
		case err != nil:
			return jetpool.Permanent(fmt.Errorf("payload %q is not item-N", job.Payload))
		case n == 7:
			return errors.New("poison item: cannot be parsed")
		case n%10 == 3 && job.Attempt == 1:
			return errors.New("transient failure")
		}
		_, err = job.Forward(ctx, "store", bytes.ToUpper(job.Payload), nil)
		return err
	})})
	if err != nil {
		return err
	}
	store, err := consumer.New(js, consumer.Options{Queue: "store", Concurrency: o.concurrency, Backoff: backoff, Logger: log, Handler: jetpool.HandlerFunc(func(ctx context.Context, job *jetpool.Job) error {
		time.Sleep(time.Millisecond) // the work
		return nil
	})})
	if err != nil {
		return err
	}
	for i, p := range []*consumer.Pool{parse, store} {
		queue := []string{"parse", "store"}[i]
		if err := p.Start(ctx); err != nil {
			return err
		}
		defer func() {
			if err := p.Stop(context.Background()); err != nil {
				a.log.Warn("demo: pool stop", "queue", queue, "error", err)
			}
		}()
	}

	var mu sync.Mutex
	var cycles []manager.CycleReport
	bar := newProgress(a.stderr, isTerminal(a.stderr), a.log)
	m, err := manager.New(js, manager.Options{
		Name: "demo", Queue: "parse", Interval: o.interval, Cycles: o.cycles, Logger: log,
		Source: func(context.Context) ([]producer.Item, error) {
			items := make([]producer.Item, o.jobs)
			for i := range items {
				items[i] = producer.Item{ID: strconv.Itoa(i), Payload: []byte("item-" + strconv.Itoa(i))}
			}
			return items, nil
		},
		Progress: bar.update,
		OnCycle: func(r manager.CycleReport) {
			bar.finish(r.Report)
			mu.Lock()
			cycles = append(cycles, r)
			mu.Unlock()
			if r.Report != nil {
				fmt.Fprintf(out, "cycle %d  batch %s: expected %d, completed %d, dead %d, pending %d, took %s%s\n",
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
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
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
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nparse: %d completed, %d retried, %d dead; store: %d completed; forwarded %d\n",
		ps.Completed, ps.Retried, ps.Dead, ss.Completed, ps.Forwarded)
	if total.Completed+total.Dead != total.Expected {
		return exitWith(ExitFailure, fmt.Errorf("demo lost track of %d jobs", total.Expected-total.Completed-total.Dead))
	}
	return nil
}
