package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/jetpool/jetpool/internal/capped"
	"github.com/jetpool/jetpool/internal/locate"
	"github.com/spf13/cobra"
)

// jobShowTimeout bounds `jetpool job show`: a scan of the whole work
// stream reads about a million headers in that time.
const jobShowTimeout = 2 * time.Minute

func (a *app) jobCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "job", Short: "Find a job by its ID"}
	cmd.AddCommand(a.jobShowCommand())
	return cmd
}

// jobShowCmd is `jetpool job show`.
type jobShowCmd struct {
	a   *app
	out output
}

func (a *app) jobShowCommand() *cobra.Command {
	c := &jobShowCmd{a: a, out: a.out()}
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Say where a job is now: pending, running (on which worker), in flight (delivered, not acknowledged), dead, or gone (completed, or never enqueued)",
		Args:  cobra.ExactArgs(1),
		RunE:  c.run,
	}
	c.out.jsonFlag(cmd.Flags(), "print one JSON object")
	return cmd
}

func (c *jobShowCmd) run(cmd *cobra.Command, args []string) error {
	s, err := c.a.connect(cmd.Context(), false)
	if err != nil {
		return err
	}
	defer s.close()
	f, err := locate.New(s.js, s.names)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), jobShowTimeout)
	defer cancel()
	loc, err := f.Find(ctx, args[0])
	if err != nil {
		return err
	}
	return c.out.print(loc, func(w io.Writer) error { return printLocation(w, loc) })
}

// printLocation says where a job is, for people.
func printLocation(w io.Writer, loc *locate.Location) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "job\t%s\n", loc.JobID)
	switch loc.State {
	case locate.Gone:
		fmt.Fprintf(tw, "state\tgone: not in the work stream (completed, or never enqueued)\n")
	case locate.Pending:
		fmt.Fprintf(tw, "state\tpending: waiting for a worker\nattempts\t0 so far\n")
	case locate.InFlight:
		fmt.Fprintf(tw, "state\tin flight: delivered to a worker, not acknowledged (waiting in a worker, or for its retry)\nattempts\tat least 1 so far\n")
	case locate.Running:
		w := loc.Worker
		fmt.Fprintf(tw, "state\trunning\nworker\t%s on %s, pid %d\nattempts\tat least 1 so far\n", w.ID, w.Host, w.PID)
	case locate.Dead:
		fmt.Fprintf(tw, "state\tdead\n")
	}
	if loc.Queue != "" {
		fmt.Fprintf(tw, "queue\t%s\nbatch\t%s\nsequence\t%d\n", loc.Queue, loc.Batch, loc.Seq)
	}
	if !loc.Enqueued.IsZero() {
		fmt.Fprintf(tw, "enqueued\t%s\n", loc.Enqueued.Local().Format(time.RFC3339))
	}
	if l := loc.Letter; l != nil {
		fmt.Fprintf(tw, "attempts\t%d\ndead at\t%s\nerror\t%s\n", l.Attempts, l.DeadAt.Local().Format(time.RFC3339), l.Error)
		fmt.Fprintf(tw, "payload\t%s\n", capped.Truncate(l.Payload, 200))
	}
	fmt.Fprintf(tw, "messages read\t%d\n", loc.Scanned)
	return tw.Flush()
}
