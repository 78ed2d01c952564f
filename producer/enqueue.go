package producer

import (
	"context"
	"errors"
	"fmt"
	"github.com/jetpool/jetpool/internal/manifest"
	"github.com/jetpool/jetpool/internal/retry"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/tracing"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrDuplicate is returned when a job ID was already enqueued inside the
// work stream's deduplication window: no second job was created.
var ErrDuplicate = errors.New("producer: duplicate job ID")

// ErrNotEnqueued wraps every failure to get a job acknowledged by JetStream.
var ErrNotEnqueued = errors.New("producer: job not enqueued")

// EnqueueOption changes one [Producer.Enqueue] or [Producer.EnqueueBatch].
type EnqueueOption func(*enqueueOptions)

type enqueueOptions struct {
	id      string
	batch   string
	headers nats.Header
}

// WithID sets the job ID, the deduplication key; a random ID is generated
// when absent. Enqueue only: EnqueueBatch takes each job's ID from its Item
// and refuses this option.
func WithID(id string) EnqueueOption { return func(o *enqueueOptions) { o.id = id } }

// WithBatch names the batch. With Enqueue the job joins that batch, whose
// manifest then counts it; without it the job is a batch of its own, named
// by its ID. With EnqueueBatch it names the batch enqueued (a random ID when
// absent): run the same input again under the same ID to finish a batch
// whose enqueue failed or crashed, and only the jobs not yet stored are
// published.
func WithBatch(id string) EnqueueOption { return func(o *enqueueOptions) { o.batch = id } }

// WithHeaders adds headers to the job message. Enqueue only: EnqueueBatch
// takes each job's headers from its Item and refuses this option.
func WithHeaders(h nats.Header) EnqueueOption { return func(o *enqueueOptions) { o.headers = h } }

// Enqueue publishes one job to queue and returns its ID once JetStream has
// stored it. A publish that is not acknowledged within AckTimeout, or meets
// a transient cluster error, is sent again with the same ID until ctx ends.
// It returns an error wrapping [ErrNotEnqueued] whenever JetStream did not
// acknowledge the job (no answer before ctx ended, full stream, payload too
// large), and one wrapping [ErrDuplicate] when the ID was already enqueued.
//
// With [WithBatch] the job joins that batch, whose manifest counts it once
// while JetStream's deduplication window remembers its ID; to re-run many
// jobs of a batch exactly at any time, use [Producer.EnqueueBatch].
func (p *Producer) Enqueue(ctx context.Context, queue string, payload []byte, opts ...EnqueueOption) (string, error) {
	if p.closed.Load() {
		return "", ErrClosed
	}
	var o enqueueOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.id == "" {
		o.id = jetpool.NewID()
	}
	batch := o.batch
	if batch == "" {
		batch = o.id
	}
	msg, err := p.jobMsg(queue, batch, o.id, payload, o.headers)
	if err != nil {
		return "", err
	}
	if msg.Header.Get("traceparent") == "" {
		tracing.Inject(ctx, msg.Header)
	}
	// The caller's deadline bounds the attempts, or without one the
	// producer's Timeout; only the batch's manifest needs it as a context.
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(p.opts.Timeout)
	}
	if o.batch != "" {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
		// Create the manifest first, so the batch exists before its job.
		if _, err := p.store.Update(ctx, o.batch, queue, func(*manifest.Manifest) error { return nil }); err != nil {
			return "", err
		}
	}
	var ack *jetstream.PubAck
	unanswered := false // an attempt went out and got no answer
	err = retry.Until(ctx, deadline, p.opts.AckTimeout, func(actx context.Context) (err error) {
		ack, err = p.js.PublishMsg(actx, msg)
		if err != nil && retry.Transient(err) {
			unanswered = true
		}
		return err
	})
	if err != nil {
		p.stats.failed.Add(1)
		if oversize(err) {
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.RequestTimeout)
			_, _ = p.maxMsgSize(lctx) // for the error to name the limit
			cancel()
		}
		return "", p.publishError(o.id, queue, len(payload), err)
	}
	if ack.Duplicate && unanswered {
		// Most likely our own unanswered attempt, stored after all.
		ack.Duplicate = false
	}
	if o.batch != "" && !ack.Duplicate {
		_, err := p.store.Update(ctx, o.batch, queue, func(m *manifest.Manifest) error {
			m.Singles++
			m.Expected++
			m.Report, m.Finished = nil, nil
			return nil
		})
		if err != nil {
			return o.id, fmt.Errorf("job %s enqueued but the manifest of batch %s not updated: %w", o.id, o.batch, err)
		}
	}
	if ack.Duplicate {
		p.stats.repeated.Add(1)
		return o.id, fmt.Errorf("%w: job %s is already enqueued (stream sequence %d)", ErrDuplicate, o.id, ack.Sequence)
	}
	p.stats.enqueued.Add(1)
	return o.id, nil
}

// jobMsg validates the names and builds the message of one job.
func (p *Producer) jobMsg(queue, batch, id string, payload []byte, headers nats.Header) (*nats.Msg, error) {
	if err := jetpool.ValidateQueue(queue); err != nil {
		return nil, err
	}
	if err := jetpool.ValidateBatchID(batch); err != nil {
		return nil, err
	}
	if err := jetpool.ValidateJobID(id); err != nil {
		return nil, err
	}
	return buildMsg(p.opts.Names.JobSubject(queue, batch), id, payload, headers), nil
}

// buildMsg builds the message of one job to subject, its names valid.
func buildMsg(subject, id string, payload []byte, headers nats.Header) *nats.Msg {
	msg := &nats.Msg{Subject: subject, Data: payload, Header: make(nats.Header, len(headers)+1)}
	for k, v := range headers {
		msg.Header[k] = v
	}
	// The job ID is the only header jetpool needs: the enqueue time is the
	// stream's own timestamp of the message.
	msg.Header[jetpool.HeaderMsgID] = []string{id}
	return msg
}

// publishError explains why JetStream refused or did not answer.
func (p *Producer) publishError(id, queue string, size int, err error) error {
	switch {
	case oversize(err):
		limit := "the server's limit"
		if m := p.cachedMaxMsgSize(); m > 0 {
			limit = fmt.Sprintf("%d bytes", m)
		}
		return fmt.Errorf("%w: job %s: payload of %d bytes (plus about 150 bytes of headers) exceeds the maximum message size of %s: %w", ErrNotEnqueued, id, size, limit, err)
	case errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("%w: job %s: no stream answered for queue %s (is the topology provisioned? is the cluster electing a leader?): %w", ErrNotEnqueued, id, queue, err)
	case retry.Transient(err) || errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: job %s to queue %s: no acknowledgement from JetStream: %w", ErrNotEnqueued, id, queue, err)
	}
	return fmt.Errorf("%w: job %s to queue %s: %w", ErrNotEnqueued, id, queue, err)
}

// oversize reports whether err refuses a message for its size.
func oversize(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum ||
		errors.Is(err, nats.ErrMaxPayload)
}

// maxMsgSize is the work stream's message size limit, 0 when unknown.
func (p *Producer) maxMsgSize(ctx context.Context) (int, error) {
	var size int
	err := retry.Do(ctx, p.opts.RequestTimeout, func(rctx context.Context) error {
		work, _, err := p.store.Streams(rctx)
		if err != nil {
			return err
		}
		size = int(work.CachedInfo().Config.MaxMsgSize)
		return nil
	})
	return size, err
}

// cachedDedup is the work stream's deduplication window, 0 when unknown.
func (p *Producer) cachedDedup() time.Duration {
	if cfg := p.store.CachedWork(); cfg != nil {
		return cfg.Duplicates
	}
	return 0
}

// cachedMaxMsgSize is the limit known without asking the server.
func (p *Producer) cachedMaxMsgSize() int {
	if cfg := p.store.CachedWork(); cfg != nil {
		return int(cfg.MaxMsgSize)
	}
	return 0
}
