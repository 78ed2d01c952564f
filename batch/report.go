package batch

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/jetpool/jetpool/internal/manifest"
	"github.com/jetpool/jetpool/internal/retry"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Report is what became of a batch.
type Report struct {
	Batch    string `json:"batch"`
	Queue    string `json:"queue"`
	Expected int    `json:"expected"`
	// Completed is Expected less the jobs pending and dead. It is exact for
	// pipelines whose stages forward at most one job per input.
	Completed      int            `json:"completed"`
	Dead           int            `json:"dead"`
	DeadByQueue    map[string]int `json:"dead_by_queue,omitempty"`
	Pending        int            `json:"pending"`
	PendingByQueue map[string]int `json:"pending_by_queue,omitempty"`
	// NotEnqueued counts jobs of the batch's input that its last enqueue
	// could not store; re-running that enqueue publishes them.
	NotEnqueued int `json:"not_enqueued,omitempty"`
	// MayRepeat counts jobs that re-runs published again without knowing
	// whether an earlier publish had been stored: they may have run twice.
	MayRepeat int `json:"may_repeat,omitempty"`
	// Sealed is false while a producer is still publishing the batch, or
	// after one died while publishing it, until the enqueue is re-run.
	Sealed    bool          `json:"sealed"`
	Done      bool          `json:"done"`
	Created   time.Time     `json:"created"`
	Elapsed   time.Duration `json:"-"`
	ElapsedMS int64         `json:"elapsed_ms"`
}

// Reconcile reads where every job of batch is now, from one snapshot of the
// work stream across all queues (pipeline stages) and one of the dead-letter
// stream. Any process can call it, whether or not it enqueued the batch.
//
// Each request has its own deadline (RequestTimeout) and is sent again on
// transient cluster errors until ctx ends. It returns an error wrapping
// [ErrBatchNotFound] when the batch has no manifest.
func (c *Client) Reconcile(ctx context.Context, batch string) (*Report, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	m, err := c.store.Get(ctx, batch)
	if err != nil {
		return nil, err
	}
	return c.snapshot(ctx, m)
}

// snapshot reconciles m, riding out transient errors.
func (c *Client) snapshot(ctx context.Context, m *manifest.Manifest) (*Report, error) {
	var r *Report
	err := retry.Do(ctx, c.store.RequestTimeout(), func(rctx context.Context) (err error) {
		r, err = c.reconcile(rctx, m)
		return err
	})
	return r, err
}

func (c *Client) reconcile(ctx context.Context, m *manifest.Manifest) (*Report, error) {
	if m.Report != nil { // finished and recorded
		var r Report
		if err := json.Unmarshal(m.Report, &r); err != nil {
			return nil, fmt.Errorf("final report of batch %s is corrupt: %w", m.ID, err)
		}
		r.Elapsed = time.Duration(r.ElapsedMS) * time.Millisecond // not stored as such
		return &r, nil
	}
	work, dead, err := c.store.Streams(ctx)
	if err != nil {
		return nil, fmt.Errorf("reconcile batch %s: %w", m.ID, err)
	}
	// The work stream first: once it holds nothing of the batch, every dead
	// letter was written already (dead letters are written before the job
	// is terminated).
	pending, err := c.countSubjects(ctx, work, c.store.Names().BatchFilter(m.ID))
	if err != nil {
		return nil, fmt.Errorf("reconcile batch %s: %w", m.ID, err)
	}
	deadBy, err := c.countSubjects(ctx, dead, c.store.Names().DeadBatchFilter(m.ID))
	if err != nil {
		return nil, fmt.Errorf("reconcile batch %s: %w", m.ID, err)
	}
	r := &Report{
		Batch: m.ID, Queue: m.Queue, Expected: m.Expected, Sealed: m.Sealed,
		NotEnqueued: m.Failed, MayRepeat: m.MayRepeat,
		Created: m.Created, PendingByQueue: pending, DeadByQueue: deadBy,
	}
	for _, n := range pending {
		r.Pending += n
	}
	for _, n := range deadBy {
		r.Dead += n
	}
	r.Completed = max(0, r.Expected-r.Pending-r.Dead)
	r.Done = m.Sealed && r.Pending == 0
	end := time.Now()
	if m.Finished != nil {
		end = *m.Finished
	}
	r.Elapsed = end.Sub(m.Created)
	r.ElapsedMS = r.Elapsed.Milliseconds()
	return r, nil
}

// countSubjects counts the messages of stream under filter, per queue.
func (c *Client) countSubjects(ctx context.Context, s jetstream.Stream, filter string) (map[string]int, error) {
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(info.State.Subjects))
	for subj, n := range info.State.Subjects {
		q, _, ok := c.store.Names().SplitSubject(subj)
		if ok {
			out[q] += int(n)
		}
	}
	return out, nil
}
