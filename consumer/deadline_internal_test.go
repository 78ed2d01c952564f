package consumer

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type ctxKey struct{}

// closedWithin reports whether ch is closed within d.
func closedWithin(ch <-chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	default:
	}
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

func TestJobContextReportsTheDeadlineWithoutATimer(t *testing.T) {
	c := newJobContext(context.Background(), 30*time.Millisecond)
	defer c.release()
	d, ok := c.Deadline()
	require.True(t, ok)
	assert.Equal(t, c.deadline, d)
	assert.NoError(t, c.Err())
	require.Eventually(t, func() bool { return c.Err() != nil }, 2*time.Second, time.Millisecond)
	assert.ErrorIs(t, c.Err(), context.DeadlineExceeded)
	assert.Nil(t, c.real.Load(), "Err alone must not start a timer")
	// Done, asked after the deadline, is closed at once.
	require.True(t, closedWithin(c.Done(), time.Second), "Done not closed after the deadline")
	assert.ErrorIs(t, context.Cause(c), context.DeadlineExceeded)
}

func TestJobContextDoneClosesAtTheDeadline(t *testing.T) {
	c := newJobContext(context.Background(), 30*time.Millisecond)
	defer c.release()
	start := time.Now()
	require.True(t, closedWithin(c.Done(), 2*time.Second), "Done not closed at the deadline")
	assert.GreaterOrEqual(t, time.Since(start), 25*time.Millisecond)
	assert.ErrorIs(t, c.Err(), context.DeadlineExceeded)
}

func TestJobContextFollowsItsParent(t *testing.T) {
	for _, started := range []bool{false, true} {
		parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
		c := newJobContext(parent, time.Hour)
		if started {
			_ = c.Done()
		}
		derived, stop := context.WithCancel(c)
		assert.Equal(t, "v", c.Value(ctxKey{}))
		cancel()
		require.True(t, closedWithin(c.Done(), time.Second), "Done not closed when the parent was cancelled (started %v)", started)
		assert.ErrorIs(t, c.Err(), context.Canceled, "started %v", started)
		require.True(t, closedWithin(derived.Done(), time.Second), "a derived context not cancelled with the parent (started %v)", started)
		stop()
		c.release()
		assert.ErrorIs(t, c.Err(), context.Canceled)
	}
}

func TestJobContextUsesTheEarlierDeadline(t *testing.T) {
	parent, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newJobContext(parent, time.Hour)
	defer c.release()
	want, _ := parent.Deadline()
	got, ok := c.Deadline()
	assert.True(t, ok)
	assert.Equal(t, want, got, "the parent's deadline comes first")
}

// Once Err has reported an error it keeps reporting it, whatever starts
// the context or ends the job afterwards.
func TestJobContextErrIsStable(t *testing.T) {
	// Past the deadline, then the job ends, then something starts it.
	c := newJobContext(context.Background(), time.Millisecond)
	require.Eventually(t, func() bool { return c.Err() != nil }, 2*time.Second, time.Millisecond)
	c.release()
	assert.ErrorIs(t, c.Err(), context.DeadlineExceeded, "after release")
	require.True(t, closedWithin(c.Done(), time.Second))
	assert.ErrorIs(t, c.Err(), context.DeadlineExceeded, "after start")
	assert.ErrorIs(t, context.Cause(c), context.DeadlineExceeded)

	// The job ends first, then the deadline passes, then it starts.
	c = newJobContext(context.Background(), 20*time.Millisecond)
	c.release()
	assert.ErrorIs(t, c.Err(), context.Canceled)
	require.Eventually(t, func() bool { return !time.Now().Before(c.deadline) }, 2*time.Second, time.Millisecond, "past the deadline")
	assert.ErrorIs(t, c.Err(), context.Canceled, "after the deadline")
	require.True(t, closedWithin(c.Done(), time.Second), "Done, first asked after the job ended, is closed")
	assert.ErrorIs(t, c.Err(), context.Canceled, "after start")

	// Past the deadline, then the parent is cancelled.
	parent, cancel := context.WithCancel(context.Background())
	c = newJobContext(parent, time.Millisecond)
	require.Eventually(t, func() bool { return c.Err() != nil }, 2*time.Second, time.Millisecond)
	cancel()
	assert.ErrorIs(t, c.Err(), context.DeadlineExceeded, "after the parent's cancel")
	require.True(t, closedWithin(c.Done(), time.Second))
	assert.ErrorIs(t, c.Err(), context.DeadlineExceeded, "after start")
	c.release()
}

// Err is non-nil only once Done is closed, and never goes back to nil,
// while several goroutines use the context at the deadline.
func TestJobContextUnderConcurrentUse(t *testing.T) {
	for range 50 {
		c := newJobContext(context.Background(), 2*time.Millisecond)
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				var seen error
				for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
					if g == 0 {
						_ = c.Done()
					}
					err := c.Err()
					if seen != nil {
						assert.Equal(t, seen, err, "Err changed after it was non-nil")
						return
					}
					if err != nil {
						seen = err
						assert.True(t, closedWithin(c.Done(), 0), "Err non-nil while Done is open")
					}
				}
			})
		}
		wg.Wait()
		c.release()
	}
}

func TestJobContextReleaseEndsAStartedContext(t *testing.T) {
	c := newJobContext(context.Background(), time.Hour)
	done := c.Done()
	c.release()
	require.True(t, closedWithin(done, time.Second), "release did not end the started context")
	assert.ErrorIs(t, c.Err(), context.Canceled)
}

// BenchmarkJobContext compares, per job, the lazy jobContext with the
// context.WithTimeout it stands for, when the handler only checks Err, as
// every worker of a pool does at once under one cancellable parent.
func BenchmarkJobContext(b *testing.B) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.Run("lazy", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				jc := newJobContext(parent, time.Minute)
				if jc.Err() != nil {
					b.Fatal("ended early")
				}
				jc.release()
			}
		})
	})
	b.Run("WithTimeout", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ctx, end := context.WithTimeout(parent, time.Minute)
				if ctx.Err() != nil {
					b.Fatal("ended early")
				}
				end()
			}
		})
	})
}
