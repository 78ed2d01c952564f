package producer

import (
	"context"
	"errors"
	"fmt"
	"github.com/jetpool/jetpool/batch"
	"github.com/jetpool/jetpool/internal/manifest"
	"strings"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/tracing"
	"github.com/nats-io/nats.go"
)

// ErrBatchMismatch is returned when a batch is re-run with an input whose
// job IDs differ from the ones it was enqueued with.
var ErrBatchMismatch = errors.New("producer: batch input differs")

// Item is one job of a batch or of a manager cycle.
type Item struct {
	// ID is the job ID; EnqueueBatch generates one when empty, a Manager
	// derives one from the cycle and the item's position.
	ID      string
	Payload []byte
	Headers nats.Header
}

// Batch is the result of [Producer.EnqueueBatch].
type Batch struct {
	ID       string
	Queue    string
	Enqueued int // jobs JetStream stored now
	// Repeated counts jobs that were part of the batch already: stored by
	// an earlier run of the same batch, or deduplicated by JetStream.
	Repeated int
	// MayRepeat counts jobs published again whose earlier publish may have
	// been stored (it was never acknowledged) and is no longer known to
	// JetStream's deduplication: they may run twice. See docs/batches.md.
	MayRepeat int
	JobIDs    []string // every job ID, failed ones included, in input order
	Failed    []FailedJob

	producer *Producer
}

// FailedJob is a job JetStream did not acknowledge.
type FailedJob struct {
	ID  string
	Err error
	// Unsure is true when the job was published but never acknowledged:
	// JetStream may hold it after all.
	Unsure bool
}

// PartialError reports the jobs of a batch that were not enqueued.
// Re-running the same input with the same batch ID publishes only them.
type PartialError struct {
	Batch  string
	Failed []FailedJob
}

// Error names the batch and up to ten of the failed jobs.
func (e *PartialError) Error() string {
	ids := make([]string, 0, min(len(e.Failed), 10))
	for i, f := range e.Failed {
		if i == 10 {
			ids = append(ids, "...")
			break
		}
		ids = append(ids, f.ID)
	}
	return fmt.Sprintf("batch %s: %d jobs not enqueued (%s): first error: %v", e.Batch, len(e.Failed), strings.Join(ids, ", "), e.Failed[0].Err)
}

// Unwrap returns the errors of the failed jobs.
func (e *PartialError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f.Err
	}
	return errs
}

// EnqueueBatch publishes items to queue as one batch and records its
// manifest. Up to the producer's Window publishes await their
// acknowledgement at once; one unacknowledged within AckTimeout (an
// election, a reconnect) is sent again with the same ID until ctx ends.
// A ctx without a deadline gets the producer's Timeout per thousand jobs.
//
// Re-running the same items under the same batch ID at any time publishes
// only the jobs the batch does not hold yet, and a re-run of a complete
// batch publishes nothing; the batch's expected count is the number of
// distinct jobs either way. Items without an ID get a random one, so give
// IDs to items you may re-run. A re-run whose job IDs differ from the
// batch's fails with [ErrBatchMismatch]. docs/batches.md gives the rules
// and the one case that cannot be exact (publishes in flight when a
// producer died), which Batch.MayRepeat counts.
//
// It returns the batch and, when some jobs were not acknowledged, a
// *[PartialError] naming them. Invalid input fails the whole call before
// anything is published.
func (p *Producer) EnqueueBatch(ctx context.Context, queue string, items []Item, opts ...EnqueueOption) (*Batch, error) {
	if p.closed.Load() {
		return nil, ErrClosed
	}
	var o enqueueOptions
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case o.id != "":
		return nil, fmt.Errorf("producer: WithID(%q) applies to Enqueue: give each Item its ID", o.id)
	case o.headers != nil:
		return nil, errors.New("producer: WithHeaders applies to Enqueue: give each Item its Headers")
	}
	batchID := o.batch
	if batchID == "" {
		batchID = jetpool.NewID()
	}
	if err := jetpool.ValidateQueue(queue); err != nil {
		return nil, err
	}
	if err := jetpool.ValidateBatchID(batchID); err != nil {
		return nil, err
	}
	b := &Batch{ID: batchID, Queue: queue, JobIDs: make([]string, len(items)), producer: p}
	seen := make(map[string]int, len(items))
	for i, it := range items {
		id := it.ID
		if id == "" {
			id = jetpool.NewID()
		}
		if j, dup := seen[id]; dup {
			return nil, fmt.Errorf("producer: batch %s: items %d and %d share job ID %q", batchID, j, i, id)
		}
		seen[id] = i
		if err := jetpool.ValidateJobID(id); err != nil {
			return nil, fmt.Errorf("producer: batch %s, item %d: %w", batchID, i, err)
		}
		b.JobIDs[i] = id
	}
	seen = nil
	// Without a deadline, allow the default timeout per thousand jobs.
	var cancel context.CancelFunc = func() {}
	if _, ok := ctx.Deadline(); !ok {
		ctx, cancel = context.WithTimeout(ctx, p.opts.Timeout*time.Duration(1+len(items)/1000))
	}
	defer cancel()
	if err := p.checkSizes(ctx, batchID, items, b.JobIDs); err != nil {
		return nil, err
	}

	seq := &sequence{owner: jetpool.NewID(), ids: b.JobIDs}
	claimed, err := p.store.UpdateFrom(ctx, batchID, queue, nil, jetpool.NewID(), seq.resume)
	if err != nil {
		return nil, err
	}
	for _, st := range seq.state {
		if st == posSkip {
			b.Repeated++
		}
	}
	w := &window{p: p, b: b, seq: seq, items: items, queue: queue, subject: p.opts.Names.JobSubject(queue, b.ID),
		dedup: p.cachedDedup(), trace: nats.Header{},
		cp: checkpointer{store: p.store, batch: b.ID, seq: seq, written: claimed}}
	tracing.Inject(ctx, w.trace)
	runErr := w.run(ctx)

	// Record the outcome even when the caller's context has ended, so the
	// manifest matches what JetStream holds.
	mctx, mcancel := context.WithTimeout(context.WithoutCancel(ctx), 4*p.opts.RequestTimeout)
	defer mcancel()
	_, err = p.store.UpdateFrom(mctx, batchID, "", w.cp.written, jetpool.NewID(), func(m *manifest.Manifest) error {
		if err := seq.owns(m); err != nil {
			return err
		}
		seq.record(m, false)
		m.Failed = len(b.Failed)
		m.MayRepeat += b.MayRepeat - w.cp.mayRepeatIn(m)
		return nil
	})
	p.stats.count(b, runErr == nil && err == nil && len(b.Failed) == 0)
	switch {
	case runErr != nil:
		return b, runErr
	case err != nil:
		return b, fmt.Errorf("producer: batch %s: jobs enqueued but manifest not updated: %w", batchID, err)
	case len(b.Failed) > 0:
		return b, &PartialError{Batch: batchID, Failed: b.Failed}
	}
	if b.MayRepeat > 0 {
		p.log.Warn("batch re-run: jobs published again may run twice", "batch", batchID, "may_repeat", b.MayRepeat)
	}
	return b, nil
}

// TooLargeError refuses a batch some of whose jobs exceed the work
// stream's maximum message size; nothing of the batch was published.
type TooLargeError struct {
	Batch string
	Limit int   // bytes, payload plus headers
	Items []int // the positions of the jobs too large, in input order
	IDs   []string
}

// Error names the batch, the limit and up to ten of the jobs.
func (e *TooLargeError) Error() string {
	ids := e.IDs
	more := ""
	if len(ids) > 10 {
		ids, more = ids[:10], ", ..."
	}
	return fmt.Sprintf("batch %s: %d jobs exceed the work stream's maximum message size of %d bytes (payload plus about 150 bytes of headers), nothing enqueued: %s%s",
		e.Batch, len(e.IDs), e.Limit, strings.Join(ids, ", "), more)
}

// Unwrap makes the error match [ErrNotEnqueued].
func (e *TooLargeError) Unwrap() error { return ErrNotEnqueued }

// checkSizes refuses the whole batch with a *[TooLargeError] when a job is
// larger than the work stream accepts, before anything is published.
func (p *Producer) checkSizes(ctx context.Context, batch string, items []Item, ids []string) error {
	limit, err := p.maxMsgSize(ctx)
	if err != nil {
		return nil // the server still refuses an oversized job, per job
	}
	if mp := int(p.js.Conn().MaxPayload()); mp > 0 && (limit <= 0 || mp < limit) {
		limit = mp // the server's max_payload, when lower than the stream's limit
	}
	if limit <= 0 {
		return nil
	}
	var tooLarge *TooLargeError
	for i, it := range items {
		if len(it.Payload)+headerSize(it.Headers, ids[i]) > limit {
			if tooLarge == nil {
				tooLarge = &TooLargeError{Batch: batch, Limit: limit}
			}
			tooLarge.Items = append(tooLarge.Items, i)
			tooLarge.IDs = append(tooLarge.IDs, ids[i])
		}
	}
	if tooLarge != nil {
		return tooLarge
	}
	return nil
}

// headerSize is the encoded size of a job's headers, which JetStream counts
// with the payload against its limit.
func headerSize(h nats.Header, id string) int {
	n := len("NATS/1.0\r\n\r\n") + len(jetpool.HeaderMsgID) + len(": \r\n") + len(id)
	for k, vs := range h {
		if k == jetpool.HeaderMsgID {
			continue
		}
		for _, v := range vs {
			n += len(k) + len(": \r\n") + len(v)
		}
	}
	return n
}

// Wait blocks until the batch is done or ctx ends; see [Producer.Wait].
func (b *Batch) Wait(ctx context.Context, opts ...batch.WaitOption) (*batch.Report, error) {
	if b.producer == nil {
		return nil, errors.New("producer: batch has no producer")
	}
	return b.producer.Wait(ctx, b.ID, opts...)
}
