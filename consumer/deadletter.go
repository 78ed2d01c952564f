package consumer

import (
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// deadLetter copies the job, with the reason it died, to the dead-letter
// stream and only then terminates the original. When the copy fails the job
// is retried later instead, so it is never lost (invariant 1).
func (p *Pool) deadLetter(h held, job *jetpool.Job, seq uint64, reason error) outcome {
	msg := h.msg
	ctx, cancel := finalContext()
	defer cancel()

	queue, batch := p.cfg.Queue, "unknown"
	attempts := 0
	id := ""
	if job != nil {
		batch, attempts, id = job.Batch, job.Attempt, job.ID
		if job.Queue != "" {
			queue = job.Queue
		}
	}
	if batch == "" {
		batch = "unknown"
	}
	dead := nats.NewMsg(p.cfg.Names.DeadSubject(queue, batch))
	dead.Data = msg.Data()
	for k, v := range msg.Headers() {
		dead.Header[k] = v
	}
	dead.Header.Del(jetpool.HeaderMsgID)
	dead.Header.Set(jetpool.HeaderJobID, id)
	dead.Header.Set(jetpool.HeaderQueue, queue)
	dead.Header.Set(jetpool.HeaderBatch, batch)
	dead.Header.Set(jetpool.HeaderError, reason.Error())
	dead.Header.Set(jetpool.HeaderAttempts, strconv.Itoa(attempts))
	dead.Header.Set(jetpool.HeaderDeadAt, time.Now().UTC().Format(time.RFC3339Nano))

	opts := []jetstream.PublishOpt{jetstream.WithExpectStream(p.cfg.Names.DeadStream())}
	if seq > 0 {
		// A redelivery of the same message writes the same dead letter once.
		opts = append(opts, jetstream.WithMsgID("dead-"+p.cfg.Queue+"-"+strconv.FormatUint(seq, 10)))
	}
	if _, err := p.js.PublishMsg(ctx, dead, opts...); err != nil {
		p.stats.ackErrors.Add(1)
		delay := p.cfg.Backoff.Delay(max(attempts, 1))
		p.logJob(job, slog.LevelError, "dead-letter write failed; job kept and retried", "error", err, "reason", reason, "retry_in", delay)
		if nerr := p.settle(h, nakWithDelay(delay)); nerr != nil {
			p.logJob(job, slog.LevelError, "nak after failed dead-letter write failed", "error", nerr)
		}
		return retried
	}
	if err := p.settle(h, jetstream.Msg.Term); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
		p.stats.ackErrors.Add(1)
		p.logJob(job, slog.LevelError, "term of dead-lettered job failed; a redelivery will find its dead letter already written", "error", err)
		return unsettled
	}
	p.stats.dead.Add(1)
	p.logJob(job, slog.LevelWarn, "job dead-lettered", "reason", reason.Error())
	return deadLettered
}
