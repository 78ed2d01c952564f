package batch

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jetpool/jetpool/internal/manifest"
)

// WaitOption changes one Wait.
type WaitOption func(*waitOptions)

type waitOptions struct {
	progress func(*Report)
	minPoll  time.Duration
	maxPoll  time.Duration
}

// WithProgress calls f with every intermediate report.
func WithProgress(f func(*Report)) WaitOption { return func(o *waitOptions) { o.progress = f } }

// WithPolling sets the first and the longest delay between snapshots
// (10ms and 250ms by default): polling starts fast and backs off, and
// the join reports a finished batch within a quarter of a second. Once the
// batch is sealed and its jobs finish at a steady rate, Wait looks again
// when the rate says the last one is done, never sooner than first.
func WithPolling(first, longest time.Duration) WaitOption {
	return func(o *waitOptions) { o.minPoll, o.maxPoll = first, longest }
}

// Wait blocks until batch is done (sealed and no job of it left in the work
// stream) or ctx ends, and returns the final report. On ctx's end it returns
// the last report with ctx's error. It is the join: any process may call it,
// including one started after the producer died. Wait has no default
// timeout: bound it with ctx. Each request has its own deadline
// (RequestTimeout) and is sent again on transient cluster errors (an
// election, a lost reply, a reconnect), so only ctx's end stops the wait
// early; a batch that is not found stops it at once.
func (c *Client) Wait(ctx context.Context, batch string, opts ...WaitOption) (*Report, error) {
	o := waitOptions{minPoll: 10 * time.Millisecond, maxPoll: 250 * time.Millisecond}
	for _, opt := range opts {
		opt(&o)
	}
	delay := o.minPoll
	var last *Report
	var m *manifest.Manifest
	var prev snapshotAt
	for {
		if m == nil || !m.Sealed {
			mm, err := c.store.Get(ctx, batch)
			if err != nil {
				return last, waitError(ctx, err)
			}
			m = mm
		}
		r, err := c.snapshot(ctx, m)
		if err != nil {
			return last, waitError(ctx, err)
		}
		last = r
		if r.Done {
			// Confirm against a fresh manifest: jobs may have been added
			// to the batch since it was read.
			fresh, err := c.store.Get(ctx, batch)
			if err != nil {
				return last, waitError(ctx, err)
			}
			if fresh.Sealed && fresh.Expected == m.Expected {
				c.finish(ctx, m, r)
				return r, nil
			}
			m = fresh
			continue
		}
		if o.progress != nil {
			o.progress(r)
		}
		sleep := delay
		if eta, ok := timeToDone(prev, r, m.Sealed); ok {
			sleep = min(sleep, max(o.minPoll, eta))
		}
		prev = snapshotAt{r.Pending, time.Now()}
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return last, ctx.Err()
		case <-t.C:
		}
		delay = min(delay*3/2, o.maxPoll)
	}
}

// snapshotAt is how many jobs of a batch were pending at a time.
type snapshotAt struct {
	pending int
	at      time.Time
}

// timeToDone estimates when a sealed batch's last pending job finishes,
// from the rate its pending count fell since prev: Wait then looks again
// about then rather than up to a whole poll interval late.
func timeToDone(prev snapshotAt, r *Report, sealed bool) (time.Duration, bool) {
	dt := time.Since(prev.at)
	if !sealed || prev.at.IsZero() || prev.pending <= r.Pending || dt <= 0 {
		return 0, false
	}
	perSec := float64(prev.pending-r.Pending) / dt.Seconds()
	return time.Duration(float64(r.Pending) / perSec * float64(time.Second)), true
}

// waitError prefers the context's error, which explains why a call failed
// once the wait has been cut short.
func waitError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// finish records the final report in the manifest, so later reconciles
// need no stream snapshot. A failure here only costs that shortcut.
func (c *Client) finish(ctx context.Context, m *manifest.Manifest, r *Report) {
	if m.Report != nil {
		return
	}
	final, err := json.Marshal(r)
	if err != nil {
		c.log.Warn("recording final batch report", "batch", m.ID, "error", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*c.store.RequestTimeout())
	defer cancel()
	_, err = c.store.Update(ctx, m.ID, "", func(mm *manifest.Manifest) error {
		if mm.Report != nil || mm.Expected != r.Expected || !mm.Sealed {
			return nil
		}
		now := time.Now().UTC()
		mm.Finished = &now
		mm.Report = final
		return nil
	})
	if err != nil {
		c.log.Warn("recording final batch report", "batch", m.ID, "error", err)
	}
}
