package jetpooltest

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/consumer"
	"github.com/nats-io/nats.go"
)

// State is what a worker pool would do with a job after one attempt.
type State int

// The states of an [Outcome].
const (
	// Completed: the handler returned nil; the pool acknowledges the job.
	Completed State = iota + 1
	// Retried: the handler failed; the pool runs the job again after a
	// delay (the handler's [jetpool.RetryAfter] or the pool's backoff).
	Retried
	// Dead: the handler returned a [jetpool.Permanent] error, or failed
	// its last attempt; the pool moves the job to the dead-letter stream.
	Dead
)

// String names the state.
func (s State) String() string {
	switch s {
	case Completed:
		return "completed"
	case Retried:
		return "retried"
	case Dead:
		return "dead"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Outcome is what one run of a handler came to.
type Outcome struct {
	State State
	// Err is what the handler returned, a *consumer.PanicError when it
	// panicked; nil when it completed.
	Err error
	// RetryAfter is the delay the handler asked for with
	// [jetpool.RetryAfter]; zero when the pool's backoff would choose it.
	RetryAfter time.Duration
	// Forwarded are the jobs the handler forwarded with [jetpool.Job.Forward],
	// in order, with the IDs and headers a pool gives them. They are
	// recorded, not published.
	Forwarded []jetpool.Job
}

// JobOptions describe the job [RunJob] hands to the handler. The zero value
// gives the defaults.
type JobOptions struct {
	// ID is the job ID; jetpool.NewID() when empty.
	ID string
	// Queue is the queue the job comes from ("test").
	Queue string
	// Batch is the batch the job belongs to ("test").
	Batch string
	// Headers are the job's headers; RunJob adds Nats-Msg-Id.
	Headers nats.Header
	// Attempt is which run of the job this is (1).
	Attempt int
	// MaxAttempts is the pool's limit of attempts, which decides whether a
	// failure retries or kills the job (consumer.DefaultMaxAttempts).
	MaxAttempts int
	// Timeout bounds the handler's context (consumer.DefaultTimeout).
	Timeout time.Duration
	// Enqueued is when the job was enqueued (now).
	Enqueued time.Time
}

func (o JobOptions) withDefaults() JobOptions {
	if o.ID == "" {
		o.ID = jetpool.NewID()
	}
	if o.Queue == "" {
		o.Queue = "test"
	}
	if o.Batch == "" {
		o.Batch = "test"
	}
	if o.Attempt == 0 {
		o.Attempt = 1
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = consumer.DefaultMaxAttempts
	}
	if o.Timeout == 0 {
		o.Timeout = consumer.DefaultTimeout
	}
	if o.Enqueued.IsZero() {
		o.Enqueued = time.Now()
	}
	return o
}

// RunJob runs h once, in the calling goroutine, on a job made of payload and
// opts, and returns what a worker pool would do with the job afterwards. No
// broker is needed: jobs the handler forwards are recorded in the outcome
// with the IDs a pool would give them. A panic in h is recovered, as a pool
// does, and counts as a failed attempt.
func RunJob(tb testing.TB, h jetpool.Handler, payload []byte, opts JobOptions) Outcome {
	tb.Helper()
	opts = opts.withDefaults()
	switch {
	case opts.Attempt < 0:
		tb.Fatalf("jetpooltest: JobOptions.Attempt %d is negative", opts.Attempt)
	case opts.MaxAttempts < 0:
		tb.Fatalf("jetpooltest: JobOptions.MaxAttempts %d is negative", opts.MaxAttempts)
	case opts.Timeout < 0:
		tb.Fatalf("jetpooltest: JobOptions.Timeout %s is negative", opts.Timeout)
	}
	headers := nats.Header{}
	for k, v := range opts.Headers {
		headers[k] = v
	}
	headers.Set(jetpool.HeaderMsgID, opts.ID)
	job := jetpool.Job{ID: opts.ID, Queue: opts.Queue, Batch: opts.Batch, Payload: payload,
		Headers: headers, Attempt: opts.Attempt, Enqueued: opts.Enqueued}
	rec := &recorder{source: opts.ID, batch: opts.Batch}

	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	err := call(ctx, h, job.WithForwarder(rec.forward))
	out := Outcome{Err: err, Forwarded: rec.taken()}
	var ra *jetpool.RetryAfterError
	switch {
	case err == nil:
		out.State = Completed
	case errors.Is(err, jetpool.ErrPermanent), opts.Attempt >= opts.MaxAttempts:
		out.State = Dead
	case errors.As(err, &ra):
		out.State, out.RetryAfter = Retried, ra.Delay
	default:
		out.State = Retried
	}
	return out
}

// call runs h on job and turns a panic into an error, as a pool does.
func call(ctx context.Context, h jetpool.Handler, job *jetpool.Job) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &consumer.PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return h.Handle(ctx, job)
}

// recorder takes the place of a pool's forwarder: it records the jobs a
// handler forwards instead of publishing them.
type recorder struct {
	source, batch string
	mu            sync.Mutex
	jobs          []jetpool.Job
}

func (r *recorder) forward(_ context.Context, queue string, payload []byte, headers nats.Header) (string, error) {
	if err := jetpool.ValidateQueue(queue); err != nil {
		return "", fmt.Errorf("forward: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	id := consumer.ForwardID(r.source, queue, len(r.jobs))
	h := nats.Header{}
	for k, v := range headers {
		h[k] = v
	}
	h.Set(jetpool.HeaderMsgID, id)
	h.Set(jetpool.HeaderParent, r.source)
	r.jobs = append(r.jobs, jetpool.Job{ID: id, Queue: queue, Batch: r.batch, Payload: payload, Headers: h})
	return id, nil
}

func (r *recorder) taken() []jetpool.Job {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.jobs
}
