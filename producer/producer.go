package producer

import (
	"context"
	"errors"
	"fmt"
	"github.com/jetpool/jetpool/batch"
	"github.com/jetpool/jetpool/internal/manifest"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults for [Options].
const (
	DefaultTimeout = 5 * time.Second
	DefaultWindow  = 2048
)

// Options configure a [Producer]. The zero value gives the defaults.
type Options struct {
	// Names derives subjects and streams; jetpool.DefaultNames() when zero.
	Names jetpool.Names
	// Timeout bounds a call whose context has no deadline (5s).
	Timeout time.Duration
	// Window is how many batch publishes may await their acknowledgement at
	// once (2048). A producer crash leaves at most Window + 1024 jobs whose
	// fate a re-run cannot know (docs/batches.md); a smaller window lowers
	// that bound at some cost in publish throughput.
	Window int
	// AckTimeout is how long one publish waits for JetStream's
	// acknowledgement before it is sent again with the same ID (2s).
	AckTimeout time.Duration
	// RequestTimeout bounds each request of a wait or a manifest update;
	// a request that times out is sent again until the call's own
	// deadline (2s).
	RequestTimeout time.Duration
	// Provision creates the streams and buckets when missing, with one
	// replica. Leave it false in a cluster where `jetpool provision` owns the
	// topology: the producer then waits for it, logging what is missing,
	// until the call's context ends.
	Provision bool
	// Logger receives the producer's log; slog.Default() when nil.
	Logger *slog.Logger
}

// Producer enqueues jobs and reconciles batches. It is safe for concurrent
// use.
type Producer struct {
	js   jetstream.JetStream
	pubs publishers // lent to batch enqueues
	opts Options
	log  *slog.Logger

	stats stats

	store   *manifest.Store // the manifests this producer writes, and the streams
	batches *batch.Client   // the join, for Wait and Reconcile

	closed atomic.Bool // set by Close: enqueues fail with ErrClosed
}

// New returns a producer that publishes through js.
func New(js jetstream.JetStream, opts Options) (*Producer, error) {
	if js == nil {
		return nil, errors.New("producer: nil JetStream")
	}
	switch {
	case opts.Timeout < 0:
		return nil, fmt.Errorf("producer: Timeout %s must not be negative", opts.Timeout)
	case opts.Window < 0:
		return nil, fmt.Errorf("producer: Window %d must not be negative", opts.Window)
	case opts.AckTimeout < 0:
		return nil, fmt.Errorf("producer: AckTimeout %s must not be negative", opts.AckTimeout)
	case opts.RequestTimeout < 0:
		return nil, fmt.Errorf("producer: RequestTimeout %s must not be negative", opts.RequestTimeout)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Window == 0 {
		opts.Window = DefaultWindow
	}
	if opts.AckTimeout == 0 {
		opts.AckTimeout = DefaultAckTimeout
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	batches, err := batch.New(js, batch.Options{Names: opts.Names, Timeout: opts.Timeout,
		RequestTimeout: opts.RequestTimeout, Provision: opts.Provision, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	return &Producer{js: js, opts: opts, log: opts.Logger, batches: batches,
		store: manifest.NewStore(js, opts.Names, opts.Provision, opts.RequestTimeout, opts.Logger)}, nil
}

// ErrClosed is returned by [Producer.Enqueue] and [Producer.EnqueueBatch]
// after [Producer.Close].
var ErrClosed = errors.New("producer: closed")

// Close releases what the producer keeps between calls: the publishers of
// finished batch enqueues, each a subscription and a goroutine on the
// connection, which stays open; it waits for a publisher made less than a
// quarter of a second before. Calls running finish normally; later
// enqueues fail with [ErrClosed]. Close is safe to call more than once.
// Close a producer made for a short task, and share one long-lived
// producer otherwise.
func (p *Producer) Close() {
	p.closed.Store(true)
	p.pubs.close()
}

// Names returns the names the producer publishes under.
func (p *Producer) Names() jetpool.Names { return p.opts.Names }

// withTimeout applies the default timeout when ctx has no deadline.
func (p *Producer) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, p.opts.Timeout)
}

// Wait blocks until batch is done or ctx ends and returns the final report:
// [batch.Client.Wait], for a batch this producer enqueued or any other.
func (p *Producer) Wait(ctx context.Context, batchID string, opts ...batch.WaitOption) (*batch.Report, error) {
	return p.batches.Wait(ctx, batchID, opts...)
}

// Reconcile reads what became of a batch now: [batch.Client.Reconcile].
func (p *Producer) Reconcile(ctx context.Context, batchID string) (*batch.Report, error) {
	return p.batches.Reconcile(ctx, batchID)
}

// Defaults for the per-request deadlines of [Options].
const (
	DefaultAckTimeout     = 2 * time.Second
	DefaultRequestTimeout = 2 * time.Second
)
