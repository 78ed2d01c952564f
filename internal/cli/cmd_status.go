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

// ClusterStatus is the cluster section of `jetpool status`.
type ClusterStatus struct {
	Name    string         `json:"name,omitempty"`
	Server  string         `json:"server"` // the server this client is connected to
	Servers []string       `json:"servers"`
	Streams []StreamStatus `json:"streams"`
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
			st, err := collectStatus(ctx, s.nc, s.js, s.names)
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
	return cmd
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
	fmt.Fprintln(tw, "STREAM\tMESSAGES\tLEADER\tREPLICAS")
	for _, s := range c.Streams {
		var reps []string
		for _, r := range s.Replicas {
			state := "current"
			switch {
			case r.Offline:
				state = "offline"
			case !r.Current:
				state = fmt.Sprintf("lagging %d", r.Lag)
			}
			reps = append(reps, r.Name+" "+state)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", s.Stream, s.Messages, orDash(s.Leader), orDash(strings.Join(reps, ", ")))
	}
	_ = tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
