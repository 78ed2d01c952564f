package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jetpool/jetpool/batch"
	"github.com/jetpool/jetpool/producer"
	"github.com/spf13/cobra"
)

func (a *app) batchCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "batch", Short: "Wait for or show a batch (the join)"}
	cmd.AddCommand(a.batchWaitCommand(), a.batchShowCommand())
	return cmd
}

// batchProducer connects and opens a producer, which reads batch reports.
func (a *app) batchProducer(cmd *cobra.Command, longLived bool) (*producer.Producer, *session, error) {
	s, err := a.connect(cmd.Context(), longLived)
	if err != nil {
		return nil, nil, err
	}
	p, err := producer.New(s.js, producer.Options{Names: s.names, Logger: a.log})
	if err != nil {
		s.close()
		return nil, nil, err
	}
	return p, s, nil
}

// batchWaitCmd is `jetpool batch wait`.
type batchWaitCmd struct {
	a       *app
	out     output
	timeout time.Duration
}

func (a *app) batchWaitCommand() *cobra.Command {
	c := &batchWaitCmd{a: a, out: a.out()}
	cmd := &cobra.Command{
		Use:   "wait BATCH",
		Short: "Wait until a batch is done; exit 0 when every job completed, 3 when any went dead, 2 on timeout",
		Long: `Wait until every job of the batch is completed or dead, showing progress
on stderr, then print the batch's report on stdout.

Exit codes:
  0    every job completed
  1    an error, such as a batch that does not exist
  2    --timeout ran out first (the report so far is printed)
  3    the batch is done and some of its jobs are dead (see jetpool dlq ls QUEUE)
  64   usage: bad flags or arguments
  69   NATS unreachable, JetStream not enabled or not answering
  130  interrupted by SIGINT or SIGTERM (the report so far is printed)`,
		Args: cobra.ExactArgs(1),
		RunE: c.run,
	}
	cmd.Flags().DurationVar(&c.timeout, "timeout", 0, "give up after this long (exit 2); default: wait until done or stopped")
	c.out.jsonFlag(cmd.Flags(), "print the report as one JSON object")
	return cmd
}

func (c *batchWaitCmd) run(cmd *cobra.Command, args []string) error {
	p, s, err := c.a.batchProducer(cmd, true)
	if err != nil {
		return err
	}
	defer s.close()
	ctx := cmd.Context() // ends on SIGINT or SIGTERM
	waitCtx := ctx
	if c.timeout > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	bar := newProgress(c.a.stderr, isTerminal(c.a.stderr), c.a.log)
	r, err := p.Wait(waitCtx, args[0], batch.WithProgress(bar.update))
	bar.finish(r)
	if err != nil {
		// Only the end of this command's own contexts decides: a single
		// request that timed out is not the wait's timeout.
		var code int
		switch {
		case ctx.Err() != nil:
			code, err = ExitInterrupted, fmt.Errorf("batch %s not done: interrupted", args[0])
		case errors.Is(waitCtx.Err(), context.DeadlineExceeded):
			code, err = ExitTimeout, fmt.Errorf("batch %s not done within %s", args[0], c.timeout)
		default:
			return err
		}
		if r != nil {
			if perr := printReport(c.out, r); perr != nil {
				return perr
			}
		}
		return exitWith(code, err)
	}
	if err := printReport(c.out, r); err != nil {
		return err
	}
	if r.Dead > 0 {
		return exitWith(ExitDead, fmt.Errorf("batch %s done: %d of %d jobs dead (jetpool dlq ls QUEUE lists them)", args[0], r.Dead, r.Expected))
	}
	return nil
}

// batchShowCmd is `jetpool batch show`.
type batchShowCmd struct {
	a   *app
	out output
}

func (a *app) batchShowCommand() *cobra.Command {
	c := &batchShowCmd{a: a, out: a.out()}
	cmd := &cobra.Command{
		Use:   "show BATCH",
		Short: "Print a batch's report without waiting",
		Args:  cobra.ExactArgs(1),
		RunE:  c.run,
	}
	c.out.jsonFlag(cmd.Flags(), "print the report as one JSON object")
	return cmd
}

func (c *batchShowCmd) run(cmd *cobra.Command, args []string) error {
	p, s, err := c.a.batchProducer(cmd, false)
	if err != nil {
		return err
	}
	defer s.close()
	r, err := p.Reconcile(cmd.Context(), args[0])
	if err != nil {
		return err
	}
	return printReport(c.out, r)
}

// printReport prints a batch's report.
func printReport(out output, r *batch.Report) error {
	return out.print(r, func(w io.Writer) error {
		state := "running"
		if r.Done {
			state = "done"
		} else if !r.Sealed {
			state = "enqueuing"
		}
		fmt.Fprintf(w, "batch %s (%s) queue %s: expected %d, completed %d, dead %d, pending %d, elapsed %s\n",
			r.Batch, state, r.Queue, r.Expected, r.Completed, r.Dead, r.Pending, r.Elapsed.Round(time.Millisecond))
		for q, n := range r.DeadByQueue {
			fmt.Fprintf(w, "  dead in %s: %d\n", q, n)
		}
		return nil
	})
}
