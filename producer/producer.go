package producer

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/internal/topology"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults for [Options].
const (
	DefaultTimeout = 5 * time.Second
	DefaultWindow  = 256
)

// Options configure a [Producer]. The zero value gives the defaults.
type Options struct {
	// Names derives subjects and streams; jetpool.DefaultNames() when zero.
	Names jetpool.Names
	// Timeout bounds a call whose context has no deadline (5s).
	Timeout time.Duration
	// Window is how many batch publishes may await their acknowledgement at
	// once (256).
	Window int
	// Logger receives the producer's log; slog.Default() when nil.
	Logger *slog.Logger
}

// Producer enqueues jobs and reconciles batches. It is safe for concurrent
// use.
type Producer struct {
	js   jetstream.JetStream
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	batches jetstream.KeyValue
	work    jetstream.Stream
	dead    jetstream.Stream
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
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Producer{js: js, opts: opts, log: opts.Logger}, nil
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

func (p *Producer) batchBucket(ctx context.Context) (jetstream.KeyValue, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.batches != nil {
		return p.batches, nil
	}
	kv, err := topology.Batches(ctx, p.js, topology.Options{Names: p.opts.Names})
	if err != nil {
		return nil, err
	}
	p.batches = kv
	return kv, nil
}

func (p *Producer) streams(ctx context.Context) (work, dead jetstream.Stream, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.work == nil {
		if p.work, err = p.js.Stream(ctx, p.opts.Names.WorkStream()); err != nil {
			return nil, nil, err
		}
	}
	if p.dead == nil {
		if p.dead, err = p.js.Stream(ctx, p.opts.Names.DeadStream()); err != nil {
			return nil, nil, err
		}
	}
	return p.work, p.dead, nil
}
