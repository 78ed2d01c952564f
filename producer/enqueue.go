package producer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrDuplicate is returned when a job ID was already enqueued inside the
// work stream's deduplication window: no second job was created.
var ErrDuplicate = errors.New("duplicate job ID")

// ErrNotEnqueued wraps every failure to get a job acknowledged by JetStream.
var ErrNotEnqueued = errors.New("job not enqueued")

// EnqueueOption changes one enqueue.
type EnqueueOption func(*enqueueOptions)

type enqueueOptions struct {
	id      string
	batch   string
	headers nats.Header
}

// WithID sets the job ID, the deduplication key; a random ID is generated
// when absent.
func WithID(id string) EnqueueOption { return func(o *enqueueOptions) { o.id = id } }

// WithBatch adds the job to a batch, whose manifest then counts it. Without
// it the job is a batch of its own, named by its ID.
func WithBatch(id string) EnqueueOption { return func(o *enqueueOptions) { o.batch = id } }

// WithHeaders adds headers to the job message.
func WithHeaders(h nats.Header) EnqueueOption { return func(o *enqueueOptions) { o.headers = h } }

// NewID returns a random job or batch ID.
func NewID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Enqueue publishes one job to queue and returns its ID once JetStream has
// stored it. It returns an error wrapping [ErrNotEnqueued] whenever JetStream
// did not acknowledge the job (timeout, full stream, payload too large), and
// one wrapping [ErrDuplicate] when the ID was already enqueued.
func (p *Producer) Enqueue(ctx context.Context, queue string, payload []byte, opts ...EnqueueOption) (string, error) {
	var o enqueueOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.id == "" {
		o.id = NewID()
	}
	batch := o.batch
	if batch == "" {
		batch = o.id
	}
	msg, err := p.jobMsg(queue, batch, o.id, payload, o.headers)
	if err != nil {
		return "", err
	}
	ctx, cancel := p.withTimeout(ctx)
	defer cancel()
	if o.batch != "" {
		if err := p.createManifest(ctx, o.batch, queue, true); err != nil {
			return "", err
		}
	}
	ack, err := p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(o.id), jetstream.WithExpectStream(p.opts.Names.WorkStream()))
	if err != nil {
		return "", p.publishError(ctx, o.id, queue, len(payload), err)
	}
	if ack.Duplicate {
		if o.batch != "" {
			if err := p.countInManifest(ctx, o.batch, 0, []string{o.id}, nil); err != nil {
				return o.id, err
			}
		}
		return o.id, fmt.Errorf("%w: job %s is already enqueued (stream sequence %d)", ErrDuplicate, o.id, ack.Sequence)
	}
	if o.batch != "" {
		if err := p.countInManifest(ctx, o.batch, 1, nil, nil); err != nil {
			return o.id, err
		}
	}
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
	msg := nats.NewMsg(p.opts.Names.JobSubject(queue, batch))
	msg.Data = payload
	for k, v := range headers {
		msg.Header[k] = v
	}
	msg.Header.Set(jetpool.HeaderMsgID, id)
	msg.Header.Set(jetpool.HeaderEnqueued, time.Now().UTC().Format(time.RFC3339Nano))
	return msg, nil
}

// publishError explains why JetStream refused or did not answer.
func (p *Producer) publishError(ctx context.Context, id, queue string, size int, err error) error {
	var apiErr *jetstream.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum,
		errors.Is(err, nats.ErrMaxPayload):
		limit := "the server's limit"
		if s, serr := p.js.Stream(context.WithoutCancel(ctx), p.opts.Names.WorkStream()); serr == nil {
			if m := s.CachedInfo().Config.MaxMsgSize; m > 0 {
				limit = fmt.Sprintf("%d bytes", m)
			}
		}
		return fmt.Errorf("%w: job %s: payload of %d bytes exceeds the maximum message size of %s: %w", ErrNotEnqueued, id, size, limit, err)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: job %s to queue %s: no acknowledgement from JetStream: %w", ErrNotEnqueued, id, queue, err)
	case errors.Is(err, jetstream.ErrNoStreamResponse):
		return fmt.Errorf("%w: job %s: no stream answered for queue %s (is the topology provisioned?): %w", ErrNotEnqueued, id, queue, err)
	}
	return fmt.Errorf("%w: job %s to queue %s: %w", ErrNotEnqueued, id, queue, err)
}
