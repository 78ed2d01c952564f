package topology

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults for [Waiter].
const (
	DefaultWaitInitial  = 100 * time.Millisecond
	DefaultWaitMax      = 2 * time.Second
	DefaultWaitLogEvery = 30 * time.Second
	DefaultWaitAttempt  = 5 * time.Second
	DefaultWaitHint     = `run "jetpool provision QUEUE..." or start with --provision`
)

// Waiter retries opening topology while it is missing ([MissingError]) or
// JetStream answers transiently ([Transient]), with backoff, until the
// caller's context ends. It logs a warning naming what is missing on the
// first failure and again every LogEvery while it lasts. The zero value
// gives the defaults.
type Waiter struct {
	// Logger receives the waiting log; slog.Default() when nil.
	Logger *slog.Logger
	// Hint tells the operator how to provide a missing object.
	Hint string
	// Initial and Max bound the delay between attempts, doubling from
	// Initial to Max (100ms, 2s).
	Initial, Max time.Duration
	// LogEvery is the shortest time between two log lines (30s).
	LogEvery time.Duration
	// Attempt bounds one attempt, so that a lost reply costs no more (5s).
	Attempt time.Duration
	// Log, when set, keeps the waiting log's timing across calls, for a
	// caller that waits in many short calls; each call keeps its own when
	// nil.
	Log *WaitLog
}

// WaitLog rate-limits the waiting log of a [Waiter] across calls. The zero
// value is ready to use; it must not be copied once used.
type WaitLog struct {
	mu     sync.Mutex
	began  time.Time // when the current wait began; zero when not waiting
	logged time.Time // when the last warning was logged
	last   error     // the last failure of an attempt that ran its course
}

// failed records a failed attempt and reports whether to log it, and for
// how long the wait has lasted.
func (l *WaitLog) failed(now time.Time, every time.Duration, err error) (log bool, waited time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = err
	if l.began.IsZero() {
		l.began = now
	}
	if l.logged.IsZero() || now.Sub(l.logged) >= every {
		l.logged = now
		return true, now.Sub(l.began)
	}
	return false, now.Sub(l.began)
}

// succeeded ends the wait and reports whether it had logged, and how long
// it lasted.
func (l *WaitLog) succeeded(now time.Time) (logged bool, waited time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	logged, waited = !l.logged.IsZero(), now.Sub(l.began)
	l.began, l.logged, l.last = time.Time{}, time.Time{}, nil
	return logged, waited
}

// lastFailure returns the last failure of an attempt that ran its course.
func (l *WaitLog) lastFailure() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

func (w Waiter) withDefaults() Waiter {
	if w.Logger == nil {
		w.Logger = slog.Default()
	}
	if w.Hint == "" {
		w.Hint = DefaultWaitHint
	}
	if w.Initial <= 0 {
		w.Initial = DefaultWaitInitial
	}
	if w.Max < w.Initial {
		w.Max = max(DefaultWaitMax, w.Initial)
	}
	if w.LogEvery <= 0 {
		w.LogEvery = DefaultWaitLogEvery
	}
	if w.Attempt <= 0 {
		w.Attempt = DefaultWaitAttempt
	}
	return w
}

// Wait calls open until it succeeds, fails for good, or ctx ends. open is
// retried while it fails with a [MissingError] or a [Transient] error; any
// other error is returned at once. Once ctx ends, the error names what was
// still missing and wraps ctx.Err().
func (w Waiter) Wait(ctx context.Context, open func(context.Context) error) error {
	w = w.withDefaults()
	wl := w.Log
	if wl == nil {
		wl = new(WaitLog)
	}
	delay := w.Initial
	for {
		actx, cancel := context.WithTimeout(ctx, w.Attempt)
		err := open(actx)
		cancel()
		if err == nil {
			if logged, waited := wl.succeeded(time.Now()); logged {
				w.Logger.Info("jetpool topology ready", "waited", waited.Round(time.Millisecond).String())
			}
			return nil
		}
		if ctx.Err() != nil {
			var missing *MissingError
			if prev := wl.lastFailure(); prev != nil && !errors.As(err, &missing) {
				err = prev // the attempt was cut short: report what was wrong
			}
			return &notReadyError{reason: w.reason(err), err: err, ctxErr: ctx.Err()}
		}
		if !Retryable(err) {
			return err
		}
		if log, waited := wl.failed(time.Now(), w.LogEvery, err); log {
			var attrs []any
			if waited > 0 { // a repeated warning
				attrs = append(attrs, "waited", waited.Round(100*time.Millisecond).String())
			}
			w.Logger.Warn("waiting for the jetpool topology: "+w.reason(err), attrs...)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return &notReadyError{reason: w.reason(err), err: err, ctxErr: ctx.Err()}
		case <-t.C:
		}
		delay = min(2*delay, w.Max)
	}
}

// reason says what is wrong and, for a missing object, what to do.
func (w Waiter) reason(err error) string {
	var missing *MissingError
	if errors.As(err, &missing) {
		return missing.Error() + "; " + w.Hint
	}
	return "JetStream unavailable: " + err.Error()
}

// notReadyError is returned when the caller's context ends while waiting.
type notReadyError struct {
	reason      string
	err, ctxErr error
}

func (e *notReadyError) Error() string {
	return "jetpool topology not ready: " + e.reason + ": " + e.ctxErr.Error()
}

func (e *notReadyError) Unwrap() []error { return []error{e.err, e.ctxErr} }

// Retryable reports whether err is worth waiting out: a missing stream,
// bucket or consumer, or a [Transient] error.
func Retryable(err error) bool {
	var missing *MissingError
	return errors.As(err, &missing) || Transient(err)
}

// Transient reports whether err is a JetStream failure that passes by
// itself while a cluster heals: a request or acknowledgement timeout, no
// responders (during an election or a restart), a reconnect, a 503
// "temporarily unavailable". A refusal (a full stream, a message too
// large) and a server without JetStream are not transient.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case 10008, // JetStream system temporarily unavailable
			10004, // incomplete results
			10163, // expected last sequence temporarily unavailable
			10158: // duplicate message ID still being committed: ask again
			return true
		case 0: // a bare status: 503 no responders, 408 request timeout
			return apiErr.Code == 503 || apiErr.Code == 408
		}
		return false
	}
	if errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
		return false
	}
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrReconnectBufExceeded) ||
		errors.Is(err, jetstream.ErrAsyncPublishTimeout) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, jetstream.ErrServerShutdown)
}
