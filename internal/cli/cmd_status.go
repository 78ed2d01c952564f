package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jetpool/jetpool/internal/status"
	"github.com/spf13/cobra"
)

// The status types, named here as the command's tests know them.
type (
	Status         = status.Status
	QueueStatus    = status.QueueStatus
	ReplicaStatus  = status.ReplicaStatus
	MetaStatus     = status.MetaStatus
	ClusterStatus  = status.ClusterStatus
	StreamStatus   = status.StreamStatus
	ConsumerStatus = status.ConsumerStatus
)

// statusTimeout bounds the whole of `jetpool status`; running out exits
// with ExitTimeout.
const statusTimeout = 15 * time.Second

// statusCmd is `jetpool status`.
type statusCmd struct {
	a        *app
	out      output
	monitors []string
}

func (a *app) statusCommand() *cobra.Command {
	c := &statusCmd{a: a, out: a.out()}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show queues (pending, in flight, running, dead, worker processes and slots), live workers, recent batches and the cluster",
		Args:  cobra.NoArgs,
		RunE:  c.run,
	}
	c.out.jsonFlag(cmd.Flags(), "print one JSON object")
	cmd.Flags().StringSliceVar(&c.monitors, "monitor", nil, "monitoring URL of a NATS server (http://HOST:8222), repeatable or comma-separated, to show the JetStream meta leader (default: $JETPOOL_MONITOR)")
	return cmd
}

func (c *statusCmd) run(cmd *cobra.Command, _ []string) error {
	s, err := c.a.connect(cmd.Context(), false)
	if err != nil {
		return err
	}
	defer s.close()
	ctx, cancel := context.WithTimeout(cmd.Context(), statusTimeout)
	defer cancel()
	monitors := c.monitors
	if len(monitors) == 0 {
		monitors = splitList(c.a.getenv("JETPOOL_MONITOR"))
	}
	st, err := status.Collect(ctx, s.nc, s.js, s.names, monitors)
	if err != nil {
		if cmd.Context().Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return exitWith(ExitTimeout, fmt.Errorf("status not collected within %s: %w", statusTimeout, err))
		}
		return err
	}
	return c.out.print(st, func(w io.Writer) error { return printStatus(w, st) })
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// printStatus shows st for people.
func printStatus(w io.Writer, st *Status) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tPENDING\tIN FLIGHT\tREDELIVERY\tRUNNING\tDEAD\tPROCESSES\tSLOTS\tDONE/MIN")
	for _, q := range st.Queues {
		name := q.Queue
		if !q.Consumer {
			name += " (no consumer: run jetpool provision " + q.Queue + ")"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.0f\n", name, q.Pending, q.InFlight, q.Redelivery, q.Running, q.Dead, q.Processes, q.Slots, q.PerMinute)
	}
	if len(st.Workers) > 0 {
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "WORKER\tQUEUE\tHOST\tPID\tSLOTS\tRUNNING\tSTARTED\tLAST SEEN")
		for _, w := range st.Workers {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s ago\n", w.ID, w.Queue, w.Host, w.PID, w.Concurrency, w.Running,
				w.Started.Local().Format(time.DateTime), time.Since(w.LastSeen).Round(time.Second))
		}
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "BATCH\tQUEUE\tEXPECTED\tCOMPLETED\tDEAD\tPENDING\tSTATE")
	for _, r := range st.Batches {
		state := "running"
		switch {
		case r.Done:
			state = "done"
		case !r.Sealed:
			state = "enqueuing"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.Batch, r.Queue, r.Expected, r.Completed, r.Dead, r.Pending, state)
	}
	fmt.Fprintln(tw)
	c := st.Cluster
	fmt.Fprintf(tw, "CLUSTER %s\tconnected to %s\tservers: %s\n", orDash(c.Name), c.Server, strings.Join(c.Servers, ", "))
	switch m := c.Meta; {
	case m == nil:
		fmt.Fprintf(tw, "META LEADER unknown\t%s\n", c.MetaError)
	case m.Leader == "" && m.Size <= 1:
		fmt.Fprintf(tw, "META LEADER -\ta single server, no cluster\n")
	case m.Leader == "":
		fmt.Fprintf(tw, "META LEADER none\t%d servers\tno meta leader: the cluster cannot create or change streams (no quorum?)\n", m.Size)
	default:
		fmt.Fprintf(tw, "META LEADER %s\t%d servers\t%s\n", m.Leader, m.Size, orDash(replicas(m.Replicas)))
	}
	fmt.Fprintln(tw, "STREAM\tMESSAGES\tLEADER\tREPLICAS")
	for _, s := range c.Streams {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", s.Stream, s.Messages, orDash(s.Leader), orDash(replicas(s.Replicas)))
	}
	if len(c.Consumers) > 0 {
		fmt.Fprintln(tw, "CONSUMER\t\tLEADER\tREPLICAS")
		for _, q := range c.Consumers {
			fmt.Fprintf(tw, "%s\t\t%s\t%s\n", q.Queue, orDash(q.Leader), orDash(replicas(q.Replicas)))
		}
	}
	return tw.Flush()
}

// replicas describes followers: "n2 current, n3 lagging 12, n1 offline".
func replicas(rs []ReplicaStatus) string {
	var out []string
	for _, r := range rs {
		state := "current"
		switch {
		case r.Offline:
			state = "offline"
		case !r.Current:
			state = fmt.Sprintf("lagging %d", r.Lag)
		}
		out = append(out, r.Name+" "+state)
	}
	return strings.Join(out, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
