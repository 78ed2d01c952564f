package jetpool

import (
	"errors"
	"fmt"
	"time"
)

// ErrPermanent matches, through errors.Is, every error made by [Permanent].
var ErrPermanent = errors.New("permanent failure")

// ErrNoForwarder is returned by [Job.Forward] on a job that did not come
// from a worker pool.
var ErrNoForwarder = errors.New("jetpool: job has no forwarder: it did not come from a worker pool")

// ErrInvalidName is wrapped by every name validation error.
var ErrInvalidName = errors.New("invalid name")

// permanentError marks a failure that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string   { return "permanent failure: " + e.err.Error() }
func (e *permanentError) Unwrap() []error { return []error{ErrPermanent, e.err} }

// Permanent wraps err so that the job is dead-lettered at once, without
// further attempts. errors.Is(result, ErrPermanent) reports true, and err
// stays reachable through errors.Is and errors.As.
func Permanent(err error) error {
	if err == nil {
		err = errors.New("unspecified")
	}
	return &permanentError{err: err}
}

// RetryAfterError asks for the job to be retried after Delay instead of the
// pool's backoff. It still counts as an attempt.
type RetryAfterError struct {
	Delay time.Duration
	Err   error
}

// Error reports the delay and the cause.
func (e *RetryAfterError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("retry after %s", e.Delay)
	}
	return fmt.Sprintf("retry after %s: %v", e.Delay, e.Err)
}

// Unwrap returns the cause.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter returns an error that retries the job after delay. Match it with
// errors.As(err, new(*RetryAfterError)).
func RetryAfter(delay time.Duration, err error) error {
	return &RetryAfterError{Delay: delay, Err: err}
}
