// Package dlq lists, inspects, retries and purges dead-lettered jobs.
package dlq

import (
	"context"
	"errors"
	"fmt"
	"github.com/jetpool/jetpool/batch"
	"log/slog"
	"strconv"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrNotFound is returned for a job that has no dead letter in the queue.
var ErrNotFound = errors.New("dlq: dead letter not found")

// Letter is one dead job.
type Letter struct {
	Seq      uint64      `json:"seq"` // sequence in the dead-letter stream
	JobID    string      `json:"job_id"`
	Queue    string      `json:"queue"`
	Batch    string      `json:"batch"`
	Error    string      `json:"error"`
	Attempts int         `json:"attempts"`
	DeadAt   time.Time   `json:"dead_at"`
	Payload  []byte      `json:"payload"`
	Headers  nats.Header `json:"headers,omitempty"`
}

// Admin manages the dead-letter stream.
type Admin struct {
	js      jetstream.JetStream
	names   jetpool.Names
	batches *batch.Client // reopens the batch of a retried job
}

// Options configure an [Admin]. The zero value is ready to use.
type Options struct {
	// Names derives subjects and streams; jetpool.DefaultNames() when zero.
	Names jetpool.Names
	// Logger receives the log of retries; slog.Default() when nil.
	Logger *slog.Logger
}

// New returns an Admin for the installation o names.
func New(js jetstream.JetStream, o Options) (*Admin, error) {
	if js == nil {
		return nil, errors.New("dlq: nil JetStream")
	}
	b, err := batch.New(js, batch.Options{Names: o.Names, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	return &Admin{js: js, names: o.Names, batches: b}, nil
}

// List returns every dead job of queue, oldest first.
func (a *Admin) List(ctx context.Context, queue string) ([]Letter, error) {
	if err := jetpool.ValidateQueue(queue); err != nil {
		return nil, err
	}
	s, err := a.js.Stream(ctx, a.names.DeadStream())
	if err != nil {
		return nil, fmt.Errorf("open dead-letter stream %s: %w", a.names.DeadStream(), err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(a.names.DeadQueueFilter(queue)))
	if err != nil {
		return nil, err
	}
	total := 0
	for _, n := range info.State.Subjects {
		total += int(n)
	}
	if total == 0 {
		return nil, nil
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{a.names.DeadQueueFilter(queue)}})
	if err != nil {
		return nil, err
	}
	out := make([]Letter, 0, total)
	for len(out) < total {
		b, err := c.Fetch(min(total-len(out), 256), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return out, err
		}
		got := 0
		var last jetstream.Msg
		for m := range b.Messages() {
			out = append(out, a.letter(m))
			last = m
			got++
		}
		if err := b.Error(); err != nil {
			return out, err
		}
		if got == 0 {
			break
		}
		if md, err := last.Metadata(); err == nil && md.NumPending == 0 {
			break
		}
	}
	return out, nil
}

func (a *Admin) letter(m jetstream.Msg) Letter {
	var seq uint64
	if md, err := m.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	return a.letterOf(seq, m.Subject(), m.Headers(), m.Data())
}

// letterOf reads a dead letter from its stream sequence, subject, headers
// and payload.
func (a *Admin) letterOf(seq uint64, subject string, h nats.Header, data []byte) Letter {
	l := Letter{Seq: seq, JobID: h.Get(jetpool.HeaderJobID), Queue: h.Get(jetpool.HeaderQueue), Batch: h.Get(jetpool.HeaderBatch),
		Error: h.Get(jetpool.HeaderError), Payload: data, Headers: h}
	l.Attempts, _ = strconv.Atoi(h.Get(jetpool.HeaderAttempts))
	l.DeadAt, _ = time.Parse(time.RFC3339Nano, h.Get(jetpool.HeaderDeadAt))
	if q, b, ok := a.names.SplitSubject(subject); ok {
		l.Queue, l.Batch = q, b
	}
	return l
}

// Get returns the dead letter of job id in queue.
func (a *Admin) Get(ctx context.Context, queue, id string) (*Letter, error) {
	all, err := a.List(ctx, queue)
	if err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].JobID == id {
			return &all[i], nil
		}
	}
	return nil, fmt.Errorf("%w: job %q in queue %q", ErrNotFound, id, queue)
}

// Retry re-enqueues the dead job id of queue in its batch, with a fresh
// attempt count, then removes its dead letter.
func (a *Admin) Retry(ctx context.Context, queue, id string) error {
	l, err := a.Get(ctx, queue, id)
	if err != nil {
		return err
	}
	return a.retry(ctx, *l)
}

// RetryAll re-enqueues every dead job of queue and returns how many.
func (a *Admin) RetryAll(ctx context.Context, queue string) (int, error) {
	all, err := a.List(ctx, queue)
	if err != nil {
		return 0, err
	}
	for i, l := range all {
		if err := a.retry(ctx, l); err != nil {
			return i, err
		}
	}
	return len(all), nil
}

func (a *Admin) retry(ctx context.Context, l Letter) error {
	msg := nats.NewMsg(a.names.JobSubject(l.Queue, l.Batch))
	msg.Data = l.Payload
	for k, v := range l.Headers {
		msg.Header[k] = v
	}
	for _, k := range []string{jetpool.HeaderError, jetpool.HeaderAttempts, jetpool.HeaderDeadAt, jetpool.HeaderQueue, jetpool.HeaderBatch} {
		msg.Header.Del(k)
	}
	// A new dedup key, the same one for every retry of this dead letter.
	msgID := l.JobID + "-retry-" + strconv.FormatUint(l.Seq, 10)
	msg.Header.Set(jetpool.HeaderMsgID, msgID)
	msg.Header.Set(jetpool.HeaderJobID, l.JobID)
	if err := a.batches.Reopen(ctx, l.Batch); err != nil && !errors.Is(err, batch.ErrBatchNotFound) {
		return err
	}
	if _, err := a.js.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(a.names.WorkStream())); err != nil {
		return fmt.Errorf("retry job %s: enqueue: %w", l.JobID, err)
	}
	s, err := a.js.Stream(ctx, a.names.DeadStream())
	if err == nil {
		err = s.DeleteMsg(ctx, l.Seq)
	}
	if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("retry job %s: enqueued, but its dead letter %d stays: %w", l.JobID, l.Seq, err)
	}
	return nil
}

// Purge deletes every dead job of queue and returns how many there were.
func (a *Admin) Purge(ctx context.Context, queue string) (int, error) {
	if err := jetpool.ValidateQueue(queue); err != nil {
		return 0, err
	}
	s, err := a.js.Stream(ctx, a.names.DeadStream())
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(a.names.DeadQueueFilter(queue)))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(a.names.DeadQueueFilter(queue))); err != nil {
		return 0, err
	}
	return n, nil
}
