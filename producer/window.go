package producer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/jetpool/jetpool/internal/retry"
	"maps"
	"slices"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// window publishes the positions of one batch enqueue that are still to be
// stored, with up to Window publishes awaiting acknowledgement. A publish
// not acknowledged within AckTimeout, or answered by a transient error, is
// sent again with the same ID after a short pause, while the rest of the
// window moves on. The first refusal (a full stream, say) stops new
// publishes; what was sent already is settled.
type window struct {
	p     *Producer
	b     *Batch
	seq   *sequence
	items []Item
	queue string
	// subject is the batch's job subject, the same for every job.
	subject string
	trace   nats.Header // the caller's trace context, added to every job

	pub      *publisher           // this enqueue's own, lent by the producer
	inflight map[*nats.Msg]flight // sent, awaiting their answer
	waiting  []flight             // to send again once due
	spare    []*nats.Msg          // messages of stored jobs, to reuse
	next     int                  // the next position to consider
	stopped  error                // why nothing new is published

	// cp records the progress in the manifest and sets how far the
	// window may publish.
	cp checkpointer
	// dedup is the work stream's deduplication window: a job resent after
	// it may be stored twice.
	dedup time.Duration
}

type flight struct {
	pos   int
	msg   *nats.Msg // built when first sent
	tries int
	first time.Time // when it was first sent
	due   time.Time
}

// run publishes until every position is settled or ctx ends. It returns
// an error only when another enqueue took the batch over.
func (w *window) run(ctx context.Context) error {
	pub, err := w.p.pubs.get(w.p.js, w.p.opts)
	if err != nil {
		w.stopped = err
		w.finish(ctx)
		return nil
	}
	w.pub = pub
	w.inflight = make(map[*nats.Msg]flight, min(w.p.opts.Window, len(w.items)))
	w.next = w.seq.settled
	for {
		w.resendDue(ctx)
		for w.stopped == nil && ctx.Err() == nil && len(w.inflight)+len(w.waiting) < w.p.opts.Window {
			pos, ok := w.nextPos()
			if !ok {
				break
			}
			if w.cp.due(pos) {
				w.cp.start(ctx, pos, w.p.opts.Window, w.b.MayRepeat)
			}
			if pos >= w.cp.limit() {
				break // until the checkpoint lets it publish on
			}
			w.next = pos + 1
			w.send(flight{pos: pos})
		}
		if len(w.inflight) == 0 && len(w.waiting) == 0 && !w.cp.busy() {
			break
		}
		if !w.settle(ctx) {
			break
		}
	}
	w.stopOn(w.cp.wait())
	w.takeAnswers() // those already there, when ctx ended
	w.p.pubs.put(pub, len(w.inflight) > 0)
	w.finish(ctx)
	return w.cp.takenOver
}

// stopOn stops new publishes when err, a checkpoint's failure, is not nil.
func (w *window) stopOn(err error) {
	if err != nil && w.stopped == nil {
		w.stopped = err
	}
}

// nextPos finds the next position still to publish.
func (w *window) nextPos() (int, bool) {
	for i := w.next; i < len(w.seq.state); i++ {
		if w.seq.state[i] == posTodo {
			return i, true
		}
	}
	return 0, false
}

func (w *window) send(fl flight) {
	seq := w.seq
	fl.tries++
	if fl.first.IsZero() {
		fl.first = time.Now()
	}
	if fl.pos >= seq.hi {
		seq.hi = fl.pos + 1
	}
	if fl.msg == nil {
		fl.msg = w.message(fl.pos)
	}
	_, err := w.pub.js.PublishMsgAsync(fl.msg, w.pub.send...)
	if err != nil {
		// nats.go may still answer this message (a reconnect fails what it
		// holds): the resend gets a message of its own, so that such an
		// answer matches no publish.
		fl.msg = nil
		if retry.Transient(err) || errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			fl.due = time.Now().Add(retry.Delay(fl.tries))
			w.waiting = append(w.waiting, fl)
			return
		}
		fl.tries-- // this attempt never left
		w.fail(fl, err)
		return
	}
	w.inflight[fl.msg] = fl
}

// message builds the message of the job at pos, in a stored job's message
// when one is spare: of the same batch, it differs only in ID and payload.
func (w *window) message(pos int) *nats.Msg {
	it := w.items[pos]
	if n := len(w.spare); n > 0 && len(it.Headers) == 0 {
		msg := w.spare[n-1]
		w.spare = w.spare[:n-1]
		msg.Data = it.Payload
		msg.Header[jetpool.HeaderMsgID][0] = w.b.JobIDs[pos]
		return msg
	}
	msg := buildMsg(w.subject, w.b.JobIDs[pos], it.Payload, it.Headers)
	for k, v := range w.trace {
		if _, set := msg.Header[k]; !set {
			msg.Header[k] = v
		}
	}
	return msg
}

// resendDue sends again the publishes whose pause is over.
func (w *window) resendDue(ctx context.Context) {
	if ctx.Err() != nil || len(w.waiting) == 0 {
		return
	}
	now := time.Now()
	keep := w.waiting[:0]
	var due []flight
	for _, fl := range w.waiting {
		if now.Before(fl.due) {
			keep = append(keep, fl)
		} else {
			due = append(due, fl)
		}
	}
	w.waiting = keep
	for _, fl := range due {
		w.send(fl)
	}
}

// settle waits for an answer, or for the next resend, takes every answer
// already there, and reports false once ctx has ended.
func (w *window) settle(ctx context.Context) bool {
	var timer <-chan time.Time
	if len(w.waiting) > 0 {
		first := w.waiting[0].due
		for _, fl := range w.waiting[1:] {
			if fl.due.Before(first) {
				first = fl.due
			}
		}
		t := time.NewTimer(time.Until(first))
		defer t.Stop()
		timer = t.C
	}
	select {
	case a := <-w.pub.answers:
		w.answered(a)
	case d := <-w.cp.answer():
		w.stopOn(w.cp.take(d))
	case <-timer:
		return true
	case <-ctx.Done():
		return false
	}
	w.takeAnswers()
	return true
}

// takeAnswers settles the publishes whose answers are there, without
// waiting.
func (w *window) takeAnswers() {
	for {
		select {
		case a := <-w.pub.answers:
			w.answered(a)
		default:
			return
		}
	}
}

// answered settles the publish a answers.
func (w *window) answered(a answer) {
	fl, ok := w.inflight[a.msg]
	if !ok {
		return // not this enqueue's: its publisher serves one at a time
	}
	delete(w.inflight, a.msg)
	switch {
	case a.err == nil:
		w.stored(fl, a.ack)
	case retry.Transient(a.err):
		fl.due = time.Now().Add(retry.Delay(fl.tries))
		w.waiting = append(w.waiting, fl)
	default:
		w.fail(fl, a.err)
	}
}

func (w *window) stored(fl flight, ack *jetstream.PubAck) {
	w.seq.state[fl.pos] = posStored
	switch {
	case ack.Duplicate:
		w.b.Repeated++
	case w.seq.retried[fl.pos],
		// An earlier attempt, unanswered, may have been stored and
		// forgotten by deduplication since.
		fl.tries > 1 && w.dedup > 0 && time.Since(fl.first) >= w.dedup:
		w.b.Enqueued++
		w.b.MayRepeat++
	default:
		w.b.Enqueued++
	}
	delete(w.seq.retried, fl.pos)
	if len(w.items[fl.pos].Headers) == 0 {
		// Answered, the message is nobody's any more.
		w.spare = append(w.spare, fl.msg)
	}
}

// fail records a refused publish and stops new ones: what refused one job
// (a full stream, a closed connection) refuses the next.
func (w *window) fail(fl flight, err error) {
	// Unsure unless JetStream refused it or no attempt ever left.
	unsure := w.seq.retried[fl.pos] || fl.tries > 0 && !refused(err)
	if unsure {
		w.seq.state[fl.pos] = posUnsure
	} else {
		w.seq.state[fl.pos] = posFailed
	}
	w.b.Failed = append(w.b.Failed, FailedJob{ID: w.b.JobIDs[fl.pos], Unsure: unsure,
		Err: w.p.publishError(w.b.JobIDs[fl.pos], w.queue, len(w.items[fl.pos].Payload), err)})
	if w.stopped == nil {
		w.stopped = err
	}
}

// finish settles what is left once publishing stops: jobs sent and never
// answered are unsure, jobs never sent failed.
func (w *window) finish(ctx context.Context) {
	cause := w.stopped
	if cause == nil {
		cause = ctx.Err()
	}
	if cause == nil {
		cause = errors.New("not published")
	}
	unanswered := slices.SortedFunc(maps.Values(w.inflight), func(a, b flight) int { return cmp.Compare(a.pos, b.pos) })
	for _, fl := range append(unanswered, w.waiting...) {
		w.seq.state[fl.pos] = posUnsure
		w.b.Failed = append(w.b.Failed, FailedJob{ID: w.b.JobIDs[fl.pos], Unsure: true,
			Err: w.p.publishError(w.b.JobIDs[fl.pos], w.queue, len(w.items[fl.pos].Payload), fmt.Errorf("no acknowledgement: %w", cause))})
	}
	w.inflight, w.waiting = nil, nil
	for i := w.next; i < len(w.seq.state); i++ {
		if w.seq.state[i] != posTodo {
			continue
		}
		if w.seq.retried[i] {
			// Still uncertain from an earlier enqueue: it stays todo, which
			// the manifest records as unsure.
			w.b.Failed = append(w.b.Failed, FailedJob{ID: w.b.JobIDs[i], Unsure: true,
				Err: w.p.publishError(w.b.JobIDs[i], w.queue, len(w.items[i].Payload), fmt.Errorf("not published again: %w", cause))})
			continue
		}
		w.seq.state[i] = posFailed
		w.b.Failed = append(w.b.Failed, FailedJob{ID: w.b.JobIDs[i],
			Err: w.p.publishError(w.b.JobIDs[i], w.queue, len(w.items[i].Payload), fmt.Errorf("not published: %w", cause))})
	}
}

// refused reports whether JetStream answered err, so the job is known not
// to be stored.
func refused(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && !retry.Transient(err)
}
