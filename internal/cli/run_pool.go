package cli

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// pools is what runPool runs: a worker pool, or a group of them.
type pools interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Stopped() <-chan struct{}
}

// runPool runs pool until ctx ends, then stops it gracefully: running jobs
// get the grace to finish. An interrupt during that wait (see
// [WithInterruptAgain]) cancels them at once and returns them to the queue.
// running counts the jobs running now.
func (a *app) runPool(ctx context.Context, pool pools, running func() int64, grace time.Duration) error {
	if err := pool.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	n := running()
	a.log.Info(fmt.Sprintf("stopping: finishing %d running %s within the grace (%s); interrupt again to stop at once", n, plural(n, "job", "jobs"), grace),
		"running", n, "grace", grace)

	now, stopNow := context.WithCancel(context.Background())
	defer stopNow()
	stopped := make(chan error, 1)
	go func() { stopped <- pool.Stop(now) }()
	select {
	case err := <-stopped:
		return err
	case <-interruptedAgain(ctx):
	}
	n = running()
	a.log.Warn(fmt.Sprintf("interrupted again: cancelling %d running %s and returning them to the queue", n, plural(n, "job", "jobs")), "running", n)
	stopNow()
	if err := <-stopped; err != nil { // returns at once: the pool's shutdown cancels the jobs
		a.log.Warn("pool stop", "error", err)
	}
	select {
	case <-pool.Stopped():
	case <-time.After(forceStopWait):
		a.log.Warn("pool still stopping; exiting: jobs not yet returned come back after the consumer's AckWait", "waited", forceStopWait)
	}
	return exitWith(ExitInterrupted, errors.New("interrupted twice: running jobs were cancelled"))
}

// forceStopWait bounds how long a worker interrupted twice waits for its
// cancelled jobs to be returned to the queue.
const forceStopWait = 5 * time.Second

type interruptAgainKey struct{}

// WithInterruptAgain returns ctx carrying again, a channel closed when the
// user interrupts a second time: a command that stops gracefully once ctx
// ends (work) stops at once when again is closed.
func WithInterruptAgain(ctx context.Context, again <-chan struct{}) context.Context {
	return context.WithValue(ctx, interruptAgainKey{}, again)
}

// interruptedAgain returns the channel given to [WithInterruptAgain], or nil
// (never ready) when there is none.
func interruptedAgain(ctx context.Context) <-chan struct{} {
	again, _ := ctx.Value(interruptAgainKey{}).(<-chan struct{})
	return again
}

// plural is one for n = 1 and many otherwise.
func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
