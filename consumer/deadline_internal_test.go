package consumer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type ctxKey struct{}

func TestJobContextReportsTheDeadlineWithoutATimer(t *testing.T) {
	c := newJobContext(context.Background(), 30*time.Millisecond)
	defer c.release()
	d, ok := c.Deadline()
	require.True(t, ok)
	assert.WithinDuration(t, time.Now().Add(30*time.Millisecond), d, 20*time.Millisecond)
	assert.NoError(t, c.Err())
	require.Eventually(t, func() bool { return c.Err() != nil }, 2*time.Second, time.Millisecond)
	assert.ErrorIs(t, c.Err(), context.DeadlineExceeded)
	assert.Nil(t, c.ctx, "Err alone must not start a timer")
	// Done, asked after the deadline, is closed at once.
	select {
	case <-c.Done():
	case <-time.After(time.Second):
		t.Fatal("Done not closed after the deadline")
	}
	assert.ErrorIs(t, context.Cause(c), context.DeadlineExceeded)
}

func TestJobContextDoneClosesAtTheDeadline(t *testing.T) {
	c := newJobContext(context.Background(), 30*time.Millisecond)
	defer c.release()
	start := time.Now()
	select {
	case <-c.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("Done not closed at the deadline")
	}
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
		assert.ErrorIs(t, c.Err(), context.Canceled, "started %v", started)
		select {
		case <-c.Done():
		case <-time.After(time.Second):
			t.Fatalf("Done not closed when the parent was cancelled (started %v)", started)
		}
		select {
		case <-derived.Done():
		case <-time.After(time.Second):
			t.Fatalf("a derived context not cancelled with the parent (started %v)", started)
		}
		assert.False(t, errors.Is(c.Err(), context.DeadlineExceeded))
		stop()
		c.release()
	}
}

func TestJobContextReleaseEndsAStartedContext(t *testing.T) {
	c := newJobContext(context.Background(), time.Hour)
	done := c.Done()
	c.release()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("release did not end the started context")
	}
	// A context never started is cancelled all the same: a goroutine the
	// handler left behind sees its job end.
	c2 := newJobContext(context.Background(), time.Hour)
	c2.release()
	assert.ErrorIs(t, c2.Err(), context.Canceled)
	select {
	case <-c2.Done():
	case <-time.After(time.Second):
		t.Fatal("Done, first asked after the job ended, is not closed")
	}
	assert.ErrorIs(t, c2.Err(), context.Canceled)
}
