package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// finalTimeout bounds acks, naks and dead-letter writes made after a job's
// own context may already have ended.
const finalTimeout = 10 * time.Second

// ErrMaxAttempts is the dead-letter reason of a job delivered more often than
// the pool's MaxAttempts without completing.
var ErrMaxAttempts = errors.New("max attempts exceeded")

// PanicError is the failure of a handler that panicked.
type PanicError struct {
	Value any
	Stack []byte
}

// Error reports the panic value.
func (e *PanicError) Error() string { return fmt.Sprintf("handler panic: %v", e.Value) }

// outcome is how one delivery of a job ended. Only an outcome that settles
// the job for good ends what the pool keeps about it (its return count).
type outcome int

const (
	// acked: the handler succeeded and the job was acknowledged.
	acked outcome = iota
	// deadLettered: the job is in the dead-letter stream and terminated.
	deadLettered
	// retried: the job failed, or its dead letter could not be written; it
	// was naked to run again after a delay (or after AckWait, if even the
	// nak failed).
	retried
	// released: shutdown cancelled the job and gave it back to the queue.
	released
	// unsettled: the job's ack or term may not have reached the server, so
	// it may be delivered again.
	unsettled
)

// final reports whether the job is settled for good: it will not be
// delivered again.
func (o outcome) final() bool { return o == acked || o == deadLettered }

// process runs one delivery of a job, settles it, and then, if the job is
// settled for good, drops its return count. Every path ends in an ack, a
// nak, or a dead letter written before the term, and an answer the server
// did not take leaves the job to come back after AckWait: invariant 1, a
// job is processed at least once or dead-lettered, never lost.
func (p *Pool) process(h held) {
	job, meta, err := decode(p.cfg.Names, h.msg)
	if err != nil {
		p.log.Error("undecodable job", "subject", h.msg.Subject(), "error", err)
		p.deadLetter(h, job, 0, jetpool.Permanent(err)) // no job ID: no return count to drop
		return
	}
	returned, err := p.returns.count(meta, job.ID)
	unsure := err != nil // how many of its deliveries were attempts is not known
	if unsure {
		p.logJob(job, slog.LevelWarn, "returns of a redelivered job not read: every delivery counts as an attempt, but the job runs",
			"bucket", p.cfg.Names.ReturnBucket(), "error", err)
	}
	job.Attempt -= returned
	seq := meta.Sequence.Stream
	if o := p.attempt(h, job, seq, unsure); returned > 0 && o.final() {
		p.forgetReturns(job, seq)
	}
}

// attempt runs the handler on job, the message at stream sequence seq, and
// settles the delivery h by what it returned. unsure tells that the job's
// attempt count may include deliveries returned unstarted.
func (p *Pool) attempt(h held, job *jetpool.Job, seq uint64, unsure bool) outcome {
	if job.Attempt > p.cfg.MaxAttempts && !unsure {
		// The worker running the last attempt died: do not run it again.
		return p.deadLetter(h, job, seq, fmt.Errorf("%w: delivered %d times, limit %d", ErrMaxAttempts, job.Attempt, p.cfg.MaxAttempts))
	}
	fw := &forwarder{pool: p, source: job}
	job = job.WithForwarder(fw.forward)

	err := p.call(job)
	switch {
	case err == nil:
		return p.ack(h, job)
	case p.jobCtx.Err() != nil:
		// Cancelled by shutdown: give it back for another worker.
		p.release(h, "cancelled by shutdown")
		p.logJob(job, slog.LevelWarn, "job cancelled by shutdown and returned to the queue", "error", err)
		return released
	case errors.Is(err, jetpool.ErrPermanent):
		return p.deadLetter(h, job, seq, err)
	case job.Attempt >= p.cfg.MaxAttempts:
		return p.deadLetter(h, job, seq, fmt.Errorf("%w (%d): %w", ErrMaxAttempts, p.cfg.MaxAttempts, err))
	default:
		return p.retry(h, job, err)
	}
}

// ack settles a completed job with an ack. The ack is not final when it
// failed, or when it was sent while disconnected: it waits then in the
// client's reconnect buffer, and a server that restarted meanwhile may
// never see it.
func (p *Pool) ack(h held, job *jetpool.Job) outcome {
	if err := p.settle(h, jetstream.Msg.Ack); err != nil {
		p.stats.ackErrors.Add(1)
		p.logJob(job, slog.LevelError, "ack of completed job failed; it will be redelivered", "error", err)
		return unsettled
	}
	o := acked
	if st := p.js.Conn().Status(); st != nats.CONNECTED {
		o = unsettled // the ack may never land: keep the count for a redelivery
		p.stats.ackErrors.Add(1)
		p.logJob(job, slog.LevelWarn, "job completed but acked while disconnected from NATS; it may run again after AckWait", "connection", st.String())
	}
	p.stats.completed.Add(1)
	p.logJob(job, slog.LevelDebug, "job completed")
	return o
}

// retry settles a failed job with a nak, delayed by the backoff or by the
// handler's RetryAfter.
func (p *Pool) retry(h held, job *jetpool.Job, err error) outcome {
	delay := p.cfg.Backoff.Delay(job.Attempt)
	var ra *jetpool.RetryAfterError
	if errors.As(err, &ra) {
		delay = ra.Delay
	}
	p.stats.retried.Add(1)
	if nerr := p.settle(h, nakWithDelay(delay)); nerr != nil {
		p.stats.ackErrors.Add(1)
		p.logJob(job, slog.LevelError, "nak of failed job failed; it will be redelivered after AckWait", "error", nerr)
	}
	p.logJob(job, slog.LevelWarn, "job failed; retrying", "error", err, "retry_in", delay)
	return retried
}

// forgetReturns drops the return count of a job once it is settled for
// good (acknowledged or dead-lettered); a retried job keeps it.
func (p *Pool) forgetReturns(job *jetpool.Job, streamSeq uint64) {
	if err := p.returns.forget(streamSeq, job.ID); err != nil {
		p.logJob(job, slog.LevelDebug, "return count not dropped; it expires with the bucket's TTL", "error", err)
	}
}

// call runs the handler under the job timeout and turns a panic into an error.
func (p *Pool) call(job *jetpool.Job) (err error) {
	ctx := p.jobCtx
	if p.cfg.Timeout > 0 {
		// A lazy context.WithTimeout: no timer unless the handler waits.
		jc := newJobContext(ctx, p.cfg.Timeout)
		defer jc.release()
		ctx = jc
	}
	defer func() {
		if v := recover(); v != nil {
			p.stats.panics.Add(1)
			stack := debug.Stack()
			p.logJob(job, slog.LevelError, "handler panic", "panic", fmt.Sprint(v), "stack", string(stack))
			err = &PanicError{Value: v, Stack: stack}
		}
	}()
	err = p.handler.Handle(ctx, job)
	if err != nil && ctx.Err() != nil && p.jobCtx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("timeout after %s: %w", p.cfg.Timeout, err)
	}
	return err
}

// nakWithDelay is the settling operation of a job to retry after delay.
func nakWithDelay(delay time.Duration) func(jetstream.Msg) error {
	return func(m jetstream.Msg) error { return m.NakWithDelay(delay) }
}

func finalContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), finalTimeout)
}

// logJob logs msg with the job's attributes; it costs nothing when level is
// disabled, so it can sit on the hot path.
func (p *Pool) logJob(job *jetpool.Job, level slog.Level, msg string, args ...any) {
	if !p.log.Enabled(context.Background(), level) {
		return
	}
	if job != nil {
		args = append(args, "job_id", job.ID, "batch", job.Batch, "attempt", job.Attempt)
	}
	p.log.Log(context.Background(), level, msg, args...)
}
