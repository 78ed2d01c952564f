package consumer

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// jobContext is the context a handler gets: the pool's job context bounded
// by the job's deadline, and cancelled when the job ends. It behaves as
// context.WithTimeout(parent, timeout) would.
//
// Why lazy: context.WithTimeout on every job starts a timer and registers
// the job with the pool's context, whose lock every worker then takes twice
// per job. Most handlers never wait on their context, so the real context
// behind a jobContext is started only when something needs it: Done, Value,
// or a context derived from it (which finds its parent through Value).
// Until then Deadline needs nothing, and Err works the deadline out from the
// clock and the parent, keeping the first error it reports: a context
// started afterwards ends with that same error, so Err never changes its
// answer.
type jobContext struct {
	parent   context.Context
	deadline time.Time

	real atomic.Pointer[startedContext] // set once started

	mu  sync.Mutex
	err error // the first error reported before the start
}

// startedContext is the real context behind a started jobContext.
type startedContext struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func newJobContext(parent context.Context, timeout time.Duration) *jobContext {
	return &jobContext{parent: parent, deadline: time.Now().Add(timeout)}
}

// started returns the real context, starting it on first use.
func (c *jobContext) started() context.Context {
	if s := c.real.Load(); s != nil {
		return s.ctx
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.real.Load(); s != nil {
		return s.ctx
	}
	s := &startedContext{}
	// Ended already, it is started ended the same way, with the parent's
	// values: past its deadline, or cancelled (a context's only other error).
	switch err := c.endedLocked(); err {
	case nil:
		s.ctx, s.cancel = context.WithDeadline(c.parent, c.deadline)
	case context.DeadlineExceeded:
		s.ctx, s.cancel = context.WithDeadline(context.WithoutCancel(c.parent), c.deadline)
	default:
		s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(c.parent))
		s.cancel()
	}
	c.real.Store(s)
	return s.ctx
}

// endedLocked is the error of a context not started yet, nil while it
// lasts; the first one found is kept. Call it with c.mu held.
func (c *jobContext) endedLocked() error {
	if c.err == nil {
		if err := c.parent.Err(); err != nil {
			c.err = err
		} else if !time.Now().Before(c.deadline) {
			c.err = context.DeadlineExceeded
		}
	}
	return c.err
}

// Deadline is the job's deadline, or the parent's when it is earlier.
func (c *jobContext) Deadline() (time.Time, bool) {
	if d, ok := c.parent.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

// Done is closed at the deadline, when the pool cancels its jobs, or when
// the job ends.
func (c *jobContext) Done() <-chan struct{} { return c.started().Done() }

// Err reports why the context ended, nil while it lasts.
func (c *jobContext) Err() error {
	if s := c.real.Load(); s != nil {
		return s.ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.real.Load(); s != nil {
		return s.ctx.Err()
	}
	return c.endedLocked()
}

// Value starts the real context first: the context package finds a
// cancellable parent (for Cause, WithCancel, AfterFunc) through Value.
func (c *jobContext) Value(key any) any { return c.started().Value(key) }

// String names the context for debugging.
func (c *jobContext) String() string { return "jetpool job context, deadline " + c.deadline.String() }

// release ends the context, as the end of its job does: it reports
// context.Canceled from then on, unless it had ended already.
func (c *jobContext) release() {
	c.mu.Lock()
	if c.real.Load() == nil && c.endedLocked() == nil {
		c.err = context.Canceled
	}
	c.mu.Unlock()
	if s := c.real.Load(); s != nil {
		s.cancel()
	}
}
