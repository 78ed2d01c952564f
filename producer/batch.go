package producer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

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
	Enqueued int      // jobs JetStream stored now
	Repeated int      // jobs already stored under the same ID (deduplicated)
	JobIDs   []string // every job ID, failed ones included, in input order
	Failed   []FailedJob

	producer *Producer
}

// FailedJob is a job JetStream did not acknowledge.
type FailedJob struct {
	ID  string
	Err error
}

// PartialError reports the jobs of a batch that were not enqueued. Retrying
// them with the same IDs (and the same batch ID) is safe: a job that was
// stored after all is deduplicated and counted once.
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

// BatchOption changes one EnqueueBatch call.
type BatchOption func(*batchOptions)

type batchOptions struct{ id string }

// WithBatchID names the batch; a random ID is generated when absent. Reuse
// the ID to retry failed jobs of a batch.
func WithBatchID(id string) BatchOption { return func(o *batchOptions) { o.id = id } }

// EnqueueBatch publishes items to queue as one batch, with up to the
// producer's Window publishes awaiting acknowledgement at once, and records
// the batch manifest. A ctx without a deadline gets the producer's Timeout
// per thousand jobs. It returns the batch and, when some jobs were not
// acknowledged, a *[PartialError] naming them; the batch counts only jobs
// that JetStream stored. Invalid input fails the whole call before anything
// is published.
func (p *Producer) EnqueueBatch(ctx context.Context, queue string, items []Item, opts ...BatchOption) (*Batch, error) {
	var o batchOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.id == "" {
		o.id = NewID()
	}
	msgs := make([]*nats.Msg, len(items))
	b := &Batch{ID: o.id, Queue: queue, JobIDs: make([]string, len(items)), producer: p}
	seen := make(map[string]int, len(items))
	for i, it := range items {
		id := it.ID
		if id == "" {
			id = NewID()
		}
		if j, dup := seen[id]; dup {
			return nil, fmt.Errorf("batch %s: items %d and %d share job ID %q", o.id, j, i, id)
		}
		seen[id] = i
		msg, err := p.jobMsg(queue, o.id, id, it.Payload, it.Headers)
		if err != nil {
			return nil, fmt.Errorf("batch %s, item %d: %w", o.id, i, err)
		}
		msgs[i], b.JobIDs[i] = msg, id
	}
	// Without a deadline, allow the default timeout per thousand jobs.
	var cancel context.CancelFunc = func() {}
	if _, ok := ctx.Deadline(); !ok {
		ctx, cancel = context.WithTimeout(ctx, p.opts.Timeout*time.Duration(1+len(items)/1000))
	}
	defer cancel()
	if err := p.createManifest(ctx, o.id, queue, false); err != nil {
		return nil, err
	}

	var duplicates, failedIDs []string
	fail := func(i int, err error) {
		b.Failed = append(b.Failed, FailedJob{ID: b.JobIDs[i], Err: p.publishError(ctx, b.JobIDs[i], queue, len(items[i].Payload), err)})
		failedIDs = append(failedIDs, b.JobIDs[i])
	}
	settle := func(i int, f jetstream.PubAckFuture) {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				b.Repeated++
				duplicates = append(duplicates, b.JobIDs[i])
			} else {
				b.Enqueued++
			}
		case err := <-f.Err():
			fail(i, err)
		case <-ctx.Done():
			fail(i, ctx.Err())
		}
	}
	type pending struct {
		i int
		f jetstream.PubAckFuture
	}
	inflight := make([]pending, 0, len(msgs))
	head := 0
	for i, msg := range msgs {
		if len(inflight)-head == p.opts.Window {
			settle(inflight[head].i, inflight[head].f)
			head++
		}
		if ctx.Err() != nil {
			fail(i, ctx.Err())
			continue
		}
		f, err := p.js.PublishMsgAsync(msg, jetstream.WithMsgID(b.JobIDs[i]), jetstream.WithExpectStream(p.opts.Names.WorkStream()))
		if err != nil {
			fail(i, err)
			continue
		}
		inflight = append(inflight, pending{i, f})
	}
	for _, w := range inflight[head:] {
		settle(w.i, w.f)
	}
	// Record the counts even when the caller's context has ended, so the
	// manifest matches what JetStream holds.
	mctx, mcancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.Timeout)
	defer mcancel()
	if err := p.countInManifest(mctx, o.id, b.Enqueued, duplicates, failedIDs); err != nil {
		return b, fmt.Errorf("batch %s: jobs enqueued but manifest not updated: %w", o.id, err)
	}
	if len(b.Failed) > 0 {
		return b, &PartialError{Batch: o.id, Failed: b.Failed}
	}
	return b, nil
}

// Wait blocks until the batch is done or ctx ends; see [Producer.Wait].
func (b *Batch) Wait(ctx context.Context, opts ...WaitOption) (*Report, error) {
	if b.producer == nil {
		return nil, errors.New("producer: batch has no producer")
	}
	return b.producer.Wait(ctx, b.ID, opts...)
}
