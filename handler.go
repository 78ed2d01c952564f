package jetpool

import "context"

// Handler processes one job. Returning nil completes the job. Returning an
// error fails this attempt: the job is retried with backoff until the
// pool's maximum attempts, unless the error is [Permanent] (dead-letter now)
// or carries a [RetryAfter] delay.
type Handler interface {
	Handle(ctx context.Context, job *Job) error
}

// HandlerFunc adapts an ordinary function to a [Handler].
type HandlerFunc func(ctx context.Context, job *Job) error

// Handle calls f(ctx, job).
func (f HandlerFunc) Handle(ctx context.Context, job *Job) error { return f(ctx, job) }

// Middleware wraps a handler with behaviour of its own (logging, metrics,
// tracing).
type Middleware func(Handler) Handler

// Chain wraps h with the middleware, the first one outermost.
func Chain(h Handler, mw ...Middleware) Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}
