package dlq

import (
	"context"
	"errors"
	"fmt"

	"github.com/jetpool/jetpool"
	"github.com/nats-io/nats.go/jetstream"
)

// Page is a slice of a queue's dead letters, oldest first.
type Page struct {
	Letters []Letter `json:"letters"`
	Total   int      `json:"total"` // dead letters of the queue
	// Next is the sequence to pass as from for the following page; 0 when
	// this page is the last.
	Next uint64 `json:"next"`
}

// ListPage returns at most limit dead letters of queue from stream sequence
// from on (1 for the oldest). Each letter is one direct read, so a page
// costs limit requests however many letters the queue holds.
func (a *Admin) ListPage(ctx context.Context, queue string, from uint64, limit int) (*Page, error) {
	if err := jetpool.ValidateQueue(queue); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("dead-letter page of queue %s: limit %d must be positive", queue, limit)
	}
	s, err := a.js.Stream(ctx, a.names.DeadStream())
	if err != nil {
		return nil, fmt.Errorf("open dead-letter stream %s: %w", a.names.DeadStream(), err)
	}
	filter := a.names.DeadQueueFilter(queue)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, err
	}
	page := &Page{Letters: []Letter{}}
	for _, n := range info.State.Subjects {
		page.Total += int(n)
	}
	seq := max(from, 1)
	for len(page.Letters) < limit && page.Total > 0 {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return page, nil // none left at or after seq
		}
		if err != nil {
			return nil, err
		}
		page.Letters = append(page.Letters, a.letterOf(m.Sequence, m.Subject, m.Header, m.Data))
		seq = m.Sequence + 1
	}
	if len(page.Letters) == limit {
		page.Next = seq
	}
	return page, nil
}

// Letter returns the dead letter at stream sequence seq.
func (a *Admin) Letter(ctx context.Context, seq uint64) (*Letter, error) {
	s, err := a.js.Stream(ctx, a.names.DeadStream())
	if err != nil {
		return nil, fmt.Errorf("open dead-letter stream %s: %w", a.names.DeadStream(), err)
	}
	m, err := s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%w: sequence %d", ErrNotFound, seq)
	}
	if err != nil {
		return nil, err
	}
	l := a.letterOf(m.Sequence, m.Subject, m.Header, m.Data)
	return &l, nil
}

// RetrySeq re-enqueues the dead letter at stream sequence seq, as Retry
// does, after checking that it belongs to queue.
func (a *Admin) RetrySeq(ctx context.Context, queue string, seq uint64) (*Letter, error) {
	l, err := a.Letter(ctx, seq)
	if err != nil {
		return nil, err
	}
	if l.Queue != queue {
		return nil, fmt.Errorf("%w: sequence %d is in queue %q, not %q", ErrNotFound, seq, l.Queue, queue)
	}
	return l, a.retry(ctx, *l)
}
