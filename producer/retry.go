package producer

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults for the per-request deadlines of [Options].
const (
	DefaultAckTimeout     = 2 * time.Second
	DefaultRequestTimeout = 2 * time.Second
)

// transient reports whether err is one a cluster produces while it heals:
// an election, a lost reply, a reconnect, a node that is not ready yet.
// Such a request is worth sending again; anything else is an answer.
func transient(err error) bool {
	if err == nil {
		return false
	}
	switch {
	case errors.Is(err, errConflict),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, jetstream.ErrAsyncPublishTimeout),
		errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case 10008, // JetStream system temporarily unavailable
			10004, // incomplete results
			10163, // expected last sequence temporarily unavailable
			jetstream.JSErrCodeJetStreamNotEnabled:
			return true
		case 0: // a bare status: 503 no responders, 408 request timeout
			return apiErr.Code == 503 || apiErr.Code == 408
		}
	}
	return false
}

// retryDelay is the pause before attempt n+1: 50ms doubling to 2s, with
// jitter so that many clients do not retry in step.
func retryDelay(n int) time.Duration {
	d := 50 * time.Millisecond << min(n, 6)
	d = min(d, 2*time.Second)
	return d/2 + rand.N(d/2+1)
}

// retry calls f with a context bounded by per until it returns nil or an
// error that is not transient, or ctx ends. A per-request timeout is never
// reported as ctx's end: once ctx is done its error is returned, wrapping
// the last failure.
func retry(ctx context.Context, per time.Duration, f func(context.Context) error) error {
	for n := 0; ; n++ {
		actx, cancel := context.WithTimeout(ctx, per)
		err := f(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return errors.Join(ctx.Err(), err)
		}
		if !transient(err) {
			return err
		}
		if !sleep(ctx, retryDelay(n)) {
			return errors.Join(ctx.Err(), err)
		}
	}
}
