package locate

import (
	"context"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/nats-io/nats.go/jetstream"
)

// fetchSize is the headers fetched per request while scanning.
const fetchSize = 1000

// found is the message of a job, read from its headers.
type found struct {
	seq          uint64
	queue, batch string
	enqueued     time.Time
}

// scan looks for id among the messages of s under narrow, then, when it is
// not there, under the whole of wide. It counts what it reads in loc.
func (f *Finder) scan(ctx context.Context, s jetstream.Stream, loc *Location, narrow []string, wide, id string) (*found, error) {
	m, err := f.scanFilter(ctx, s, loc, narrow, id)
	if m != nil || err != nil {
		return m, err
	}
	return f.scanFilter(ctx, s, loc, []string{wide}, id)
}

// scanFilter reads the headers of every message under filters with an
// ordered consumer, and returns the first whose job ID is id.
func (f *Finder) scanFilter(ctx context.Context, s jetstream.Stream, loc *Location, filters []string, id string) (*found, error) {
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: filters, HeadersOnly: true})
	if err != nil {
		return nil, err
	}
	pending := c.CachedInfo().NumPending
	for pending > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := c.Fetch(int(min(pending, fetchSize)), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, err
		}
		got := 0
		var hit *found
		for m := range b.Messages() {
			got++
			loc.Scanned++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			pending = md.NumPending
			if hit != nil || jobID(m) != id {
				continue
			}
			hit = &found{seq: md.Sequence.Stream}
			hit.queue, hit.batch, _ = f.names.SplitSubject(m.Subject())
			hit.enqueued, _ = time.Parse(time.RFC3339Nano, m.Headers().Get(jetpool.HeaderEnqueued))
		}
		if err := b.Error(); err != nil {
			return nil, err
		}
		if hit != nil {
			return hit, nil
		}
		if got == 0 {
			break // the stream shrank meanwhile
		}
	}
	return nil, nil
}

// jobID is the job ID of a message: its own header, else its dedup key.
func jobID(m jetstream.Msg) string {
	h := m.Headers()
	if id := h.Get(jetpool.HeaderJobID); id != "" {
		return id
	}
	return h.Get(jetpool.HeaderMsgID)
}
