package consumer

import (
	"context"
	"sync"
	"time"
)

// jobContext is the context a handler gets: the pool's job context bounded
// by the job's deadline. The timer behind the deadline starts only when the
// handler needs it (Done, Value, or a context derived from it), so a handler
// that never waits on its context costs no timer and no registration with
// the pool's context. Err reports the deadline either way.
type jobContext struct {
	parent   context.Context
	deadline time.Time

	mu       sync.Mutex
	ctx      context.Context // the real deadline context, once needed
	cancel   context.CancelFunc
	released bool // the job has ended: the context is cancelled
}

func newJobContext(parent context.Context, timeout time.Duration) *jobContext {
	return &jobContext{parent: parent, deadline: time.Now().Add(timeout)}
}

// started returns the real deadline context, starting it on first use.
func (c *jobContext) started() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		c.ctx, c.cancel = context.WithDeadline(c.parent, c.deadline)
		if c.released {
			c.cancel()
		}
	}
	return c.ctx
}

// Deadline is the job's deadline.
func (c *jobContext) Deadline() (time.Time, bool) { return c.deadline, true }

// Done is closed at the deadline or when the pool cancels its jobs.
func (c *jobContext) Done() <-chan struct{} { return c.started().Done() }

// Err is the parent's error, else context.DeadlineExceeded once the
// deadline has passed, else context.Canceled once the job has ended.
func (c *jobContext) Err() error {
	c.mu.Lock()
	ctx, released := c.ctx, c.released
	c.mu.Unlock()
	if ctx != nil {
		return ctx.Err()
	}
	if released {
		return context.Canceled
	}
	if err := c.parent.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Value starts the real context first: the context package finds a
// cancellable parent (for Cause, WithCancel, AfterFunc) through Value.
func (c *jobContext) Value(key any) any { return c.started().Value(key) }

// String names the context for debugging.
func (c *jobContext) String() string { return "jetpool job context, deadline " + c.deadline.String() }

// release cancels the context, as the end of a job does, and stops its
// timer if it was started.
func (c *jobContext) release() {
	c.mu.Lock()
	c.released = true
	cancel := c.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}
