package producer

import (
	"context"
	"fmt"
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
// transient cluster errors until ctx ends.
func (p *Producer) Reconcile(ctx context.Context, batch string) (*Report, error) {
	ctx, cancel := p.withTimeout(ctx)
	defer cancel()
	m, err := p.fetchManifest(ctx, batch)
	if err != nil {
		return nil, err
	}
	return p.snapshot(ctx, m)
}

// fetchManifest reads the manifest, riding out transient errors.
func (p *Producer) fetchManifest(ctx context.Context, batch string) (*Manifest, error) {
	var m *Manifest
	err := retry(ctx, p.opts.RequestTimeout, func(rctx context.Context) (err error) {
		m, _, err = p.readManifest(rctx, batch)
		return err
	})
	return m, err
}

// snapshot reconciles m, riding out transient errors.
func (p *Producer) snapshot(ctx context.Context, m *Manifest) (*Report, error) {
	var r *Report
	err := retry(ctx, p.opts.RequestTimeout, func(rctx context.Context) (err error) {
		r, err = p.reconcile(rctx, m)
		return err
	})
	return r, err
}

func (p *Producer) reconcile(ctx context.Context, m *Manifest) (*Report, error) {
	if m.Report != nil { // finished and recorded
		r := *m.Report
		r.Elapsed = time.Duration(r.ElapsedMS) * time.Millisecond // not stored as such
		return &r, nil
	}
	work, dead, err := p.streams(ctx)
	if err != nil {
		return nil, fmt.Errorf("reconcile batch %s: %w", m.ID, err)
	}
	// The work stream first: once it holds nothing of the batch, every dead
	// letter was written already (dead letters are written before the job
	// is terminated).
	pending, err := p.countSubjects(ctx, work, p.opts.Names.BatchFilter(m.ID))
	if err != nil {
		return nil, fmt.Errorf("reconcile batch %s: %w", m.ID, err)
	}
	deadBy, err := p.countSubjects(ctx, dead, p.opts.Names.DeadBatchFilter(m.ID))
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
func (p *Producer) countSubjects(ctx context.Context, s jetstream.Stream, filter string) (map[string]int, error) {
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(info.State.Subjects))
	for subj, n := range info.State.Subjects {
		q, _, ok := p.opts.Names.SplitSubject(subj)
		if ok {
			out[q] += int(n)
		}
	}
	return out, nil
}

// WaitOption changes one Wait.
type WaitOption func(*waitOptions)

type waitOptions struct {
	progress func(*Report)
	minPoll  time.Duration
	maxPoll  time.Duration
}

// WithProgress calls f with every intermediate report.
func WithProgress(f func(*Report)) WaitOption { return func(o *waitOptions) { o.progress = f } }

// WithPolling sets the first and the longest delay between snapshots
// (10ms and 250ms by default): polling starts fast and backs off, and
// the join reports a finished batch within a quarter of a second. Once the
// batch is sealed and its jobs finish at a steady rate, Wait looks again
// when the rate says the last one is done, never sooner than first.
func WithPolling(first, longest time.Duration) WaitOption {
	return func(o *waitOptions) { o.minPoll, o.maxPoll = first, longest }
}

// Wait blocks until batch is done (sealed and no job of it left in the work
// stream) or ctx ends, and returns the final report. On ctx's end it returns
// the last report with ctx's error. It is the join: any process may call it,
// including one started after the producer died. Wait has no default
// timeout: bound it with ctx. Each request has its own deadline
// (RequestTimeout) and is sent again on transient cluster errors (an
// election, a lost reply, a reconnect), so only ctx's end stops the wait
// early; a batch that is not found stops it at once.
func (p *Producer) Wait(ctx context.Context, batch string, opts ...WaitOption) (*Report, error) {
	o := waitOptions{minPoll: 10 * time.Millisecond, maxPoll: 250 * time.Millisecond}
	for _, opt := range opts {
		opt(&o)
	}
	delay := o.minPoll
	var last *Report
	var m *Manifest
	var prev snapshotAt
	for {
		if m == nil || !m.Sealed {
			mm, err := p.fetchManifest(ctx, batch)
			if err != nil {
				return last, waitError(ctx, err)
			}
			m = mm
		}
		r, err := p.snapshot(ctx, m)
		if err != nil {
			return last, waitError(ctx, err)
		}
		last = r
		if r.Done {
			// Confirm against a fresh manifest: jobs may have been added
			// to the batch since it was read.
			fresh, err := p.fetchManifest(ctx, batch)
			if err != nil {
				return last, waitError(ctx, err)
			}
			if fresh.Sealed && fresh.Expected == m.Expected {
				p.finish(ctx, m, r)
				return r, nil
			}
			m = fresh
			continue
		}
		if o.progress != nil {
			o.progress(r)
		}
		sleep := delay
		if eta, ok := timeToDone(prev, r, m.Sealed); ok {
			sleep = min(sleep, max(o.minPoll, eta))
		}
		prev = snapshotAt{r.Pending, time.Now()}
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return last, ctx.Err()
		case <-t.C:
		}
		delay = min(delay*3/2, o.maxPoll)
	}
}

// snapshotAt is how many jobs of a batch were pending at a time.
type snapshotAt struct {
	pending int
	at      time.Time
}

// timeToDone estimates when a sealed batch's last pending job finishes,
// from the rate its pending count fell since prev: Wait then looks again
// about then rather than up to a whole poll interval late.
func timeToDone(prev snapshotAt, r *Report, sealed bool) (time.Duration, bool) {
	dt := time.Since(prev.at)
	if !sealed || prev.at.IsZero() || prev.pending <= r.Pending || dt <= 0 {
		return 0, false
	}
	perSec := float64(prev.pending-r.Pending) / dt.Seconds()
	return time.Duration(float64(r.Pending) / perSec * float64(time.Second)), true
}

// waitError prefers the context's error, which explains why a call failed
// once the wait has been cut short.
func waitError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// finish records the final report in the manifest, so later reconciles
// need no stream snapshot. A failure here only costs that shortcut.
func (p *Producer) finish(ctx context.Context, m *Manifest, r *Report) {
	if m.Report != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*p.opts.RequestTimeout)
	defer cancel()
	_, err := p.updateManifest(ctx, m.ID, "", func(mm *Manifest) error {
		if mm.Report != nil || mm.Expected != r.Expected || !mm.Sealed {
			return nil
		}
		now := time.Now().UTC()
		mm.Finished = &now
		mm.Report = r
		return nil
	})
	if err != nil {
		p.log.Warn("recording final batch report", "batch", m.ID, "error", err)
	}
}
