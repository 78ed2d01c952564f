package producer

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/jetpool/jetpool/topology"
)

// Defaults for the per-request deadlines of [Options].
const (
	DefaultAckTimeout     = 2 * time.Second
	DefaultRequestTimeout = 2 * time.Second
)

// transient reports whether err is one a cluster produces while it heals
// (see [topology.Transient]), or a manifest update that lost a race: such a
// request is worth sending again; anything else is an answer.
func transient(err error) bool {
	return errors.Is(err, errConflict) || topology.Transient(err)
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
	deadline, _ := ctx.Deadline()
	return retryUntil(ctx, deadline, per, f)
}

// retryUntil is retry with the attempts also ending at deadline (none when
// zero), which spares deriving a context for it: past deadline it returns
// context.DeadlineExceeded, wrapping the last failure. A single Enqueue,
// on the hot path, bounds its attempts this way.
func retryUntil(ctx context.Context, deadline time.Time, per time.Duration, f func(context.Context) error) error {
	for n := 0; ; n++ {
		end := time.Now().Add(per)
		if !deadline.IsZero() && deadline.Before(end) {
			end = deadline
		}
		actx, cancel := context.WithDeadline(ctx, end)
		err := f(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return errors.Join(ctx.Err(), err)
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return errors.Join(context.DeadlineExceeded, err)
		}
		if !transient(err) {
			return err
		}
		pause := retryDelay(n)
		if left := time.Until(deadline); !deadline.IsZero() && left <= pause {
			// No attempt fits before the deadline: wait it out, as a
			// context ending there would, and report this failure.
			if !sleep(ctx, left) {
				return errors.Join(ctx.Err(), err)
			}
			return errors.Join(context.DeadlineExceeded, err)
		}
		if !sleep(ctx, pause) {
			return errors.Join(ctx.Err(), err)
		}
	}
}
