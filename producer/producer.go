package producer

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/topology"
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

	mu      sync.Mutex
	batches jetstream.KeyValue
	work    jetstream.Stream
	dead    jetstream.Stream
	waiting topology.WaitLog // rate-limits the log while the topology is missing
}

// New returns a producer that publishes through js.
func New(js jetstream.JetStream, opts Options) (*Producer, error) {
	if js == nil {
		return nil, errors.New("producer: nil JetStream")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = DefaultAckTimeout
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Producer{js: js, opts: opts, log: opts.Logger}, nil
}

// Close releases what the producer keeps between calls: the publishers of
// finished batch enqueues, each a subscription and a goroutine on the
// connection, which stays open; it waits for a publisher made less than a
// quarter of a second before. Calls running finish normally. The producer
// still works after Close, keeping nothing: close a producer made for a
// short task, and share one long-lived producer otherwise.
func (p *Producer) Close() { p.pubs.close() }

// Names returns the names the producer publishes under.
func (p *Producer) Names() jetpool.Names { return p.opts.Names }

// withTimeout applies the default timeout when ctx has no deadline.
func (p *Producer) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, p.opts.Timeout)
}

// batchBucket opens the batch bucket once the work and dead-letter streams
// and the bucket exist, waiting for them (or, with Options.Provision,
// creating what is missing) until ctx ends.
func (p *Producer) batchBucket(ctx context.Context) (jetstream.KeyValue, error) {
	p.mu.Lock()
	kv := p.batches
	p.mu.Unlock()
	if kv != nil {
		return kv, nil
	}
	if p.opts.Provision {
		if err := topology.CreateMissing(ctx, p.js, topology.Options{Names: p.opts.Names}); err != nil {
			return nil, err
		}
	}
	w := topology.Waiter{Logger: p.log, Hint: `run "jetpool provision QUEUE"`, Log: &p.waiting}
	err := w.Wait(ctx, func(ctx context.Context) (err error) {
		if _, _, err = topology.OpenStreams(ctx, p.js, p.opts.Names); err != nil {
			return err
		}
		kv, err = topology.OpenBatches(ctx, p.js, p.opts.Names)
		return err
	})
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.batches == nil {
		p.batches = kv
	}
	return p.batches, nil
}

// streams opens the work and dead-letter streams, waiting for them (or, with
// Options.Provision, creating what is missing) until ctx ends.
func (p *Producer) streams(ctx context.Context) (work, dead jetstream.Stream, err error) {
	p.mu.Lock()
	work, dead = p.work, p.dead
	p.mu.Unlock()
	if work != nil && dead != nil {
		return work, dead, nil
	}
	if p.opts.Provision {
		if err := topology.CreateMissing(ctx, p.js, topology.Options{Names: p.opts.Names}); err != nil {
			return nil, nil, err
		}
	}
	w := topology.Waiter{Logger: p.log, Hint: `run "jetpool provision QUEUE"`, Log: &p.waiting}
	err = w.Wait(ctx, func(ctx context.Context) (err error) {
		work, dead, err = topology.OpenStreams(ctx, p.js, p.opts.Names)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.work == nil {
		p.work, p.dead = work, dead
	}
	return p.work, p.dead, nil
}
