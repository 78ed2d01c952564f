// Package batch is the join: it reads what became of a batch of jobs, from
// any process, whether or not that process enqueued it.
//
// A batch's manifest, in the batch bucket, records how many distinct jobs
// JetStream stored for it; one snapshot of the work stream across every
// queue (pipeline stage) and one of the dead-letter stream then tell how
// many are pending, dead and completed. [Client.Reconcile] takes that
// snapshot once, [Client.Wait] until the batch is done, and
// [Client.Reopen] forgets a recorded final report so that jobs re-entering
// the batch (a dead job retried) are counted anew.
//
// Package producer enqueues batches; a [Client] only reads them.
package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/internal/manifest"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrBatchNotFound is returned for a batch that has no manifest.
var ErrBatchNotFound = manifest.ErrNotFound

// ErrTakenOver is returned by an enqueue of a batch whose manifest another
// enqueue of the same batch claimed meanwhile; the other one carries on.
var ErrTakenOver = errors.New("batch: batch taken over by another enqueue")

// Defaults for [Options].
const (
	DefaultTimeout        = 5 * time.Second
	DefaultRequestTimeout = 2 * time.Second
)

// Options configure a [Client]. The zero value gives the defaults.
type Options struct {
	// Names derives subjects, streams and buckets; jetpool.DefaultNames()
	// when zero.
	Names jetpool.Names
	// Timeout bounds a call whose context has no deadline (5s). Wait has no
	// default timeout: bound it with its context.
	Timeout time.Duration
	// RequestTimeout bounds each request; a request that times out is sent
	// again until the call's own deadline (2s).
	RequestTimeout time.Duration
	// Provision creates the streams and buckets when missing, with one
	// replica. Leave it false where `jetpool provision` owns the topology:
	// the client then waits for it, logging what is missing, until the
	// call's context ends.
	Provision bool
	// Logger receives the client's log; slog.Default() when nil.
	Logger *slog.Logger
}

// Client reads, waits for and reopens batches. It is safe for concurrent
// use.
type Client struct {
	store   *manifest.Store
	timeout time.Duration
	log     *slog.Logger
}

// New returns a client that reads batches through js.
func New(js jetstream.JetStream, opts Options) (*Client, error) {
	if js == nil {
		return nil, errors.New("batch: nil JetStream")
	}
	switch {
	case opts.Timeout < 0:
		return nil, fmt.Errorf("batch: Timeout %s must not be negative", opts.Timeout)
	case opts.RequestTimeout < 0:
		return nil, fmt.Errorf("batch: RequestTimeout %s must not be negative", opts.RequestTimeout)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Client{
		store:   manifest.NewStore(js, opts.Names, opts.Provision, opts.RequestTimeout, opts.Logger),
		timeout: opts.Timeout,
		log:     opts.Logger,
	}, nil
}

// Info is what the manifest of a batch tells a reader.
type Info struct {
	ID    string `json:"id"`
	Queue string `json:"queue"`
	// Expected is the number of distinct jobs of the batch that JetStream
	// stored, however often its enqueue was re-run.
	Expected int       `json:"expected"`
	Created  time.Time `json:"created"`
	// Sealed is false while a producer is still publishing the batch, or
	// after one died while publishing it, until the enqueue is re-run.
	Sealed bool `json:"sealed"`
	// NotEnqueued counts jobs of the batch's input that its last enqueue
	// could not store.
	NotEnqueued int `json:"not_enqueued,omitempty"`
	// MayRepeat counts jobs that re-runs published again without knowing
	// whether an earlier publish had been stored.
	MayRepeat int `json:"may_repeat,omitempty"`
	// Finished is when the batch was found done, nil before.
	Finished *time.Time `json:"finished,omitempty"`
}

// Info reads the manifest of batch. It returns an error wrapping
// [ErrBatchNotFound] when the batch has none.
func (c *Client) Info(ctx context.Context, batch string) (*Info, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	m, err := c.store.Get(ctx, batch)
	if err != nil {
		return nil, err
	}
	return &Info{ID: m.ID, Queue: m.Queue, Expected: m.Expected, Created: m.Created, Sealed: m.Sealed,
		NotEnqueued: m.Failed, MayRepeat: m.MayRepeat, Finished: m.Finished}, nil
}

// Reopen forgets the recorded final report of batch, so that jobs
// re-entering it (a dead job retried) are reconciled anew. It returns an
// error wrapping [ErrBatchNotFound] when the batch has no manifest.
func (c *Client) Reopen(ctx context.Context, batch string) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	_, err := c.store.Update(ctx, batch, "", func(m *manifest.Manifest) error {
		m.Report, m.Finished = nil, nil
		return nil
	})
	return err
}

// withTimeout applies the default timeout when ctx has no deadline.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.timeout)
}
