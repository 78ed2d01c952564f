package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jetpool/jetpool/producer"
	"github.com/jetpool/jetpool/registry"
	"github.com/spf13/cobra"
)

// QueueStatus is one queue's line in `jetpool status`.
type QueueStatus struct {
	Queue    string `json:"queue"`
	Pending  uint64 `json:"pending"`   // waiting for a worker
	InFlight int    `json:"in_flight"` // delivered and not yet acknowledged, per the server
	Running  int    `json:"running"`   // handlers running now, per the worker registry
	Dead     int    `json:"dead"`
	// Processes and Slots are the live worker processes of the queue and
	// the jobs they can run at once, from the worker registry.
	Processes int `json:"processes"`
	Slots     int `json:"slots"`
	// PerMinute is the jobs the queue's live workers completed per minute
	// over the last minute, from the worker registry.
	PerMinute float64 `json:"per_minute"`
	Consumer  bool    `json:"consumer"` // false: jobs wait for a queue nobody provisioned
}

// StreamStatus is where a stream of jetpool's lives in the cluster.
type StreamStatus struct {
	Stream   string          `json:"stream"`
	Messages uint64          `json:"messages"`
	Leader   string          `json:"leader,omitempty"`
	Replicas []ReplicaStatus `json:"replicas,omitempty"`
}

// ReplicaStatus is one follower of a stream.
type ReplicaStatus struct {
	Name    string `json:"name"`
	Current bool   `json:"current"`
	Lag     uint64 `json:"lag"`
	Offline bool   `json:"offline,omitempty"`
}

// ConsumerStatus is where a queue's consumer lives in the cluster.
type ConsumerStatus struct {
	Queue    string          `json:"queue"`
	Leader   string          `json:"leader,omitempty"`
	Replicas []ReplicaStatus `json:"replicas,omitempty"`
}

// ClusterStatus is the cluster section of `jetpool status`.
type ClusterStatus struct {
	Name    string   `json:"name,omitempty"`
	Server  string   `json:"server"` // the server this client is connected to
	Servers []string `json:"servers"`
	// Meta is the JetStream meta group, read with --monitor; MetaError
	// says why it is missing.
	Meta      *MetaStatus      `json:"meta,omitempty"`
	MetaError string           `json:"meta_error,omitempty"`
	Streams   []StreamStatus   `json:"streams"`
	Consumers []ConsumerStatus `json:"consumers"`
}

// Status is the output of `jetpool status --json`.
type Status struct {
	Queues  []QueueStatus      `json:"queues"`
	Workers []registry.Worker  `json:"workers"`
	Batches []*producer.Report `json:"batches"`
	Cluster ClusterStatus      `json:"cluster"`
}

const recentBatches = 10

// statusTimeout bounds the whole of `jetpool status`; running out exits
// with ExitTimeout.
const statusTimeout = 15 * time.Second

func (a *app) statusCommand() *cobra.Command {
	var asJSON bool
	var monitors []string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show queues (pending, in flight, running, dead, worker processes and slots), live workers, recent batches and the cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.connect(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer s.close()
			ctx, cancel := context.WithTimeout(cmd.Context(), statusTimeout)
			defer cancel()
			if len(monitors) == 0 {
				monitors = splitList(a.getenv("JETPOOL_MONITOR"))
			}
			st, err := collectStatus(ctx, s.nc, s.js, s.names, monitors)
			if err != nil {
				if cmd.Context().Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
					return exitWith(ExitTimeout, fmt.Errorf("status not collected within %s: %w", statusTimeout, err))
				}
				return err
			}
			if asJSON {
				return json.NewEncoder(a.stdout).Encode(st)
			}
			a.printStatus(st)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.Flags().StringSliceVar(&monitors, "monitor", nil, "monitoring URL of a NATS server (http://HOST:8222), repeatable or comma-separated, to show the JetStream meta leader (default: $JETPOOL_MONITOR)")
	return cmd
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

func (a *app) printStatus(st *Status) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tPENDING\tIN FLIGHT\tRUNNING\tDEAD\tPROCESSES\tSLOTS\tDONE/MIN")
	for _, q := range st.Queues {
		name := q.Queue
		if !q.Consumer {
			name += " (no consumer: run jetpool provision " + q.Queue + ")"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%.0f\n", name, q.Pending, q.InFlight, q.Running, q.Dead, q.Processes, q.Slots, q.PerMinute)
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
	case m.Leader == "":
		fmt.Fprintf(tw, "META LEADER -\ta single server, no cluster\n")
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
	_ = tw.Flush()
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
