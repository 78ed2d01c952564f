package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/producer"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

// QueueStatus is one queue's line in `jetpool status`.
type QueueStatus struct {
	Queue    string `json:"queue"`
	Pending  uint64 `json:"pending"`   // waiting for a worker
	InFlight int    `json:"in_flight"` // delivered, not yet acknowledged
	Dead     int    `json:"dead"`
	Workers  int    `json:"workers"` // pull requests waiting: idle worker processes
}

// Status is the output of `jetpool status --json`.
type Status struct {
	Queues  []QueueStatus      `json:"queues"`
	Batches []*producer.Report `json:"batches"`
}

const recentBatches = 10

// statusTimeout bounds the whole of `jetpool status`; running out exits
// with ExitTimeout.
const statusTimeout = 15 * time.Second

func (a *app) statusCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each queue's pending, in-flight and dead jobs and workers, and recent batches",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.connect(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer s.close()
			ctx, cancel := context.WithTimeout(cmd.Context(), statusTimeout)
			defer cancel()
			st, err := collectStatus(ctx, s.js, s.names)
			if err != nil {
				if cmd.Context().Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
					return exitWith(ExitTimeout, fmt.Errorf("status not collected within %s: %w", statusTimeout, err))
				}
				return err
			}
			if asJSON {
				return json.NewEncoder(a.stdout).Encode(st)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "QUEUE\tPENDING\tIN FLIGHT\tDEAD\tWORKERS")
			for _, q := range st.Queues {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", q.Queue, q.Pending, q.InFlight, q.Dead, q.Workers)
			}
			fmt.Fprintln(tw)
			fmt.Fprintln(tw, "BATCH\tQUEUE\tEXPECTED\tCOMPLETED\tDEAD\tPENDING\tSTATE")
			for _, r := range st.Batches {
				state := "running"
				if r.Done {
					state = "done"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.Batch, r.Queue, r.Expected, r.Completed, r.Dead, r.Pending, state)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func collectStatus(ctx context.Context, js jetstream.JetStream, names jetpool.Names) (*Status, error) {
	work, err := js.Stream(ctx, names.WorkStream())
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w (run jetpool provision?)", names.WorkStream(), err)
	}
	dead := map[string]int{}
	if ds, err := js.Stream(ctx, names.DeadStream()); err == nil {
		info, err := ds.Info(ctx, jetstream.WithSubjectFilter(names.DeadWildcard()))
		if err != nil {
			return nil, err
		}
		for subj, n := range info.State.Subjects {
			if q, _, ok := names.SplitSubject(subj); ok {
				dead[q] += int(n)
			}
		}
	}
	st := &Status{Queues: []QueueStatus{}, Batches: []*producer.Report{}}
	seen := map[string]bool{}
	lister := work.ListConsumers(ctx)
	for ci := range lister.Info() {
		q := ci.Name
		seen[q] = true
		st.Queues = append(st.Queues, QueueStatus{Queue: q, Pending: ci.NumPending, InFlight: ci.NumAckPending, Dead: dead[q], Workers: ci.NumWaiting})
	}
	if err := lister.Err(); err != nil {
		return nil, err
	}
	for q, n := range dead {
		if !seen[q] {
			st.Queues = append(st.Queues, QueueStatus{Queue: q, Dead: n})
		}
	}
	sort.Slice(st.Queues, func(i, j int) bool { return st.Queues[i].Queue < st.Queues[j].Queue })

	p, _ := producer.New(js, producer.Options{Names: names})
	kv, err := js.KeyValue(ctx, names.BatchBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var manifests []*producer.Manifest
	for k := range keys.Keys() {
		if m, err := p.Manifest(ctx, k); err == nil {
			manifests = append(manifests, m)
		}
	}
	sort.Slice(manifests, func(i, j int) bool { return manifests[i].Created.After(manifests[j].Created) })
	for _, m := range manifests[:min(len(manifests), recentBatches)] {
		if r, err := p.Reconcile(ctx, m.ID); err == nil {
			st.Batches = append(st.Batches, r)
		}
	}
	return st, nil
}
