package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/jetpool/jetpool/batch"
	"time"

	"github.com/jetpool/jetpool/producer"
	"github.com/spf13/cobra"
)

func (a *app) batchCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "batch", Short: "Wait for or show a batch (the join)"}
	var timeout time.Duration
	var asJSON bool
	wait := &cobra.Command{
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
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.connect(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer s.close()
			p, _ := producer.New(s.js, producer.Options{Names: s.names, Logger: a.log})
			ctx := cmd.Context() // ends on SIGINT or SIGTERM
			waitCtx := ctx
			if timeout > 0 {
				var cancel context.CancelFunc
				waitCtx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			bar := newProgress(a.stderr, isTerminal(a.stderr), a.log)
			r, err := p.Wait(waitCtx, args[0], batch.WithProgress(bar.update))
			bar.finish(r)
			if err != nil {
				// Only the end of this command's own contexts decides: a
				// single request that timed out is not the wait's timeout.
				switch {
				case ctx.Err() != nil:
					if r != nil {
						a.printReport(r, asJSON)
					}
					return exitWith(ExitInterrupted, fmt.Errorf("batch %s not done: interrupted", args[0]))
				case errors.Is(waitCtx.Err(), context.DeadlineExceeded):
					if r != nil {
						a.printReport(r, asJSON)
					}
					return exitWith(ExitTimeout, fmt.Errorf("batch %s not done within %s", args[0], timeout))
				}
				return err
			}
			a.printReport(r, asJSON)
			if r.Dead > 0 {
				return exitWith(ExitDead, fmt.Errorf("batch %s done: %d of %d jobs dead (jetpool dlq ls QUEUE lists them)", args[0], r.Dead, r.Expected))
			}
			return nil
		},
	}
	wait.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (exit 2); default: wait until done or stopped")
	wait.Flags().BoolVar(&asJSON, "json", false, "print the report as one JSON object")

	var showJSON bool
	show := &cobra.Command{
		Use:   "show BATCH",
		Short: "Print a batch's report without waiting",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.connect(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer s.close()
			p, _ := producer.New(s.js, producer.Options{Names: s.names, Logger: a.log})
			r, err := p.Reconcile(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			a.printReport(r, showJSON)
			return nil
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print the report as one JSON object")
	cmd.AddCommand(wait, show)
	return cmd
}

func (a *app) printReport(r *batch.Report, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		_ = enc.Encode(r)
		return
	}
	state := "running"
	if r.Done {
		state = "done"
	} else if !r.Sealed {
		state = "enqueuing"
	}
	fmt.Fprintf(a.stdout, "batch %s (%s) queue %s: expected %d, completed %d, dead %d, pending %d, elapsed %s\n",
		r.Batch, state, r.Queue, r.Expected, r.Completed, r.Dead, r.Pending, r.Elapsed.Round(time.Millisecond))
	for q, n := range r.DeadByQueue {
		fmt.Fprintf(a.stdout, "  dead in %s: %d\n", q, n)
	}
}
