package consumer

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/jetpool/jetpool"
)

// Defaults for [Options].
const (
	DefaultConcurrency   = 4
	DefaultTimeout       = time.Minute
	DefaultMaxAttempts   = 5
	DefaultShutdownGrace = 10 * time.Second
	// DefaultMinPrefetch is the smallest default Prefetch: with fewer
	// jobs pulled ahead, fast jobs come in pulls too small to keep the
	// workers busy.
	DefaultMinPrefetch = 256
)

// Options configures a [Pool]. Queue and Handler are required.
type Options struct {
	// Queue is the queue whose jobs the pool runs.
	Queue string
	// Handler runs each job of Queue.
	Handler jetpool.Handler
	// Names derives subjects and streams; jetpool.DefaultNames() when zero.
	Names jetpool.Names
	// Concurrency is how many jobs run at once in this process (4).
	Concurrency int
	// Prefetch is the most jobs that may wait in this process beyond those
	// running (the larger of Concurrency and 256): the pool never holds
	// more than Concurrency+Prefetch unacknowledged jobs, and raises the
	// queue consumer's MaxAckPending to at least that. Within it, the pool
	// pulls ahead about as many jobs as its workers finish in 10ms, and at
	// least half of Concurrency: fast jobs come in large pulls that keep
	// the workers busy, slow ones are left to other processes. Waiting jobs
	// are heartbeated like running ones, so none is redelivered while the
	// process lives, however long it waits. Stop returns them to the queue.
	Prefetch int
	// Timeout bounds one attempt; the handler's context is cancelled then (1m).
	Timeout time.Duration
	// MaxAttempts is how many deliveries a job gets before it is dead (5).
	MaxAttempts int
	// Backoff sets the delay before a failed job is retried.
	Backoff Backoff
	// Heartbeat is how often a running job is reported in progress; a third
	// of the consumer's AckWait when zero.
	Heartbeat time.Duration
	// AckWait is used when the pool creates the queue's consumer (30s).
	AckWait time.Duration
	// Provision creates the streams, buckets and this queue's consumer when
	// missing, with one replica. Leave it false in a cluster where `jetpool
	// provision` owns the topology: the pool then waits for the provisioned
	// streams, logging what is missing, and creates only this queue's
	// consumer if need be (it takes the stream's replicas, and provisioning's
	// configuration wins over it).
	Provision bool
	// ShutdownGrace is how long running jobs may finish after a stop before
	// their contexts are cancelled (10s).
	ShutdownGrace time.Duration
	// Logger receives the pool's log; slog.Default() when nil.
	Logger *slog.Logger
}

func (c Options) withDefaults() Options {
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Prefetch == 0 {
		c.Prefetch = max(c.Concurrency, DefaultMinPrefetch)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = DefaultShutdownGrace
	}
	c.Backoff = c.Backoff.withDefaults()
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Options) validate() error {
	if err := jetpool.ValidateQueue(c.Queue); err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	switch {
	case c.Concurrency < 1:
		return fmt.Errorf("consumer: concurrency %d must be at least 1", c.Concurrency)
	case c.Prefetch < 1:
		return fmt.Errorf("consumer: prefetch %d must be at least 1", c.Prefetch)
	case c.Timeout < 0:
		return fmt.Errorf("consumer: timeout %s must not be negative", c.Timeout)
	case c.MaxAttempts < 1:
		return fmt.Errorf("consumer: max attempts %d must be at least 1", c.MaxAttempts)
	case c.Heartbeat < 0:
		return fmt.Errorf("consumer: heartbeat %s must not be negative", c.Heartbeat)
	case c.ShutdownGrace < 0:
		return fmt.Errorf("consumer: shutdown grace %s must not be negative", c.ShutdownGrace)
	}
	return c.Backoff.validate()
}
