// Package retry sends a request to JetStream again while the cluster heals,
// until the caller's deadline: the rule every wait and publish of jetpool
// follows.
package retry

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/jetpool/jetpool/topology"
)

// ErrConflict is a compare-and-set update that lost a race: read again and
// send it again.
var ErrConflict = errors.New("changed meanwhile")

// Transient reports whether err is one a cluster produces while it heals
// (see [topology.Transient]), or an update that lost a race
// ([ErrConflict]): such a request is worth sending again; anything else is
// an answer.
func Transient(err error) bool {
	return errors.Is(err, ErrConflict) || topology.Transient(err)
}

// Delay is the pause before attempt n+1: 50ms doubling to 2s, with
// jitter so that many clients do not retry in step.
func Delay(n int) time.Duration {
	d := 50 * time.Millisecond << min(n, 6)
	d = min(d, 2*time.Second)
	return d/2 + rand.N(d/2+1)
}

// Do calls f with a context bounded by per until it returns nil or an
// error that is not transient, or ctx ends. A per-request timeout is never
// reported as ctx's end: once ctx is done its error is returned, wrapping
// the last failure.
func Do(ctx context.Context, per time.Duration, f func(context.Context) error) error {
	deadline, _ := ctx.Deadline()
	return Until(ctx, deadline, per, f)
}

// Until is Do with the attempts also ending at deadline (none when
// zero), which spares deriving a context for it: past deadline it returns
// context.DeadlineExceeded, wrapping the last failure. A single Enqueue,
// on the hot path, bounds its attempts this way.
func Until(ctx context.Context, deadline time.Time, per time.Duration, f func(context.Context) error) error {
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
		if !Transient(err) {
			return err
		}
		pause := Delay(n)
		if left := time.Until(deadline); !deadline.IsZero() && left <= pause {
			// No attempt fits before the deadline: wait it out, as a
			// context ending there would, and report this failure.
			if !Sleep(ctx, left) {
				return errors.Join(ctx.Err(), err)
			}
			return errors.Join(context.DeadlineExceeded, err)
		}
		if !Sleep(ctx, pause) {
			return errors.Join(ctx.Err(), err)
		}
	}
}

// Sleep waits d or until ctx ends, and reports whether ctx is still alive.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
