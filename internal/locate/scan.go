package locate

import (
	"context"
	"errors"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// found is the message of a job, read from its headers.
type found struct {
	seq          uint64
	queue, batch string
	enqueued     time.Time
}

// scan looks for id among the messages of s under narrow, then, when it is
// not there, under the whole of wide. It counts what it reads in loc.
func (f *Finder) scan(ctx context.Context, s jetstream.Stream, loc *Location, narrow []string, wide, id string) (*found, error) {
	for _, filter := range narrow {
		if m, err := f.scanFilter(ctx, s, loc, filter, id); m != nil || err != nil {
			return m, err
		}
	}
	return f.scanFilter(ctx, s, loc, wide, id)
}

// scanFilter reads the messages under filter in stream order, each with one
// "next message for subject" request, and returns the first whose job ID is
// id. A work-queue stream accepts no second consumer over its subjects, so
// a lookup reads messages directly; it leaves the consumers alone.
func (f *Finder) scanFilter(ctx context.Context, s jetstream.Stream, loc *Location, filter, id string) (*found, error) {
	for seq := uint64(1); ; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		loc.Scanned++
		seq = m.Sequence + 1
		if jobID(m.Header) != id {
			continue
		}
		hit := &found{seq: m.Sequence}
		hit.queue, hit.batch, _ = f.names.SplitSubject(m.Subject)
		if hit.enqueued, err = time.Parse(time.RFC3339Nano, m.Header.Get(jetpool.HeaderEnqueued)); err != nil {
			hit.enqueued = m.Time // stored when enqueued: the stream's own timestamp
		}
		return hit, nil
	}
}

// jobID is the job ID of a message: its own header, else its dedup key.
func jobID(h nats.Header) string {
	if id := h.Get(jetpool.HeaderJobID); id != "" {
		return id
	}
	return h.Get(jetpool.HeaderMsgID)
}
