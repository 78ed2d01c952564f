package jetpooltest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/jetpooltest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RunJob reports what a pool would do after each kind of handler result.
func TestRunJobOutcomes(t *testing.T) {
	t.Parallel()
	failing := errors.New("smtp down")
	tests := []struct {
		name       string
		err        error
		panics     bool
		attempt    int
		state      jetpooltest.State
		retryAfter time.Duration
	}{
		{name: "nil completes", state: jetpooltest.Completed},
		{name: "an error retries", err: failing, state: jetpooltest.Retried},
		{name: "RetryAfter retries after its delay", err: jetpool.RetryAfter(5*time.Second, failing),
			state: jetpooltest.Retried, retryAfter: 5 * time.Second},
		{name: "Permanent is dead at once", err: jetpool.Permanent(failing), state: jetpooltest.Dead},
		{name: "an error on the last attempt is dead", err: failing, attempt: consumer.DefaultMaxAttempts, state: jetpooltest.Dead},
		{name: "a panic retries", panics: true, state: jetpooltest.Retried},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := jetpool.HandlerFunc(func(context.Context, *jetpool.Job) error {
				if tc.panics {
					panic("boom")
				}
				return tc.err
			})
			out := jetpooltest.RunJob(t, h, []byte("p"), jetpooltest.JobOptions{Attempt: tc.attempt})
			assert.Equal(t, tc.state, out.State)
			assert.Equal(t, tc.retryAfter, out.RetryAfter)
			if tc.panics {
				var pe *consumer.PanicError
				require.ErrorAs(t, out.Err, &pe)
				assert.Equal(t, "boom", pe.Value)
				return
			}
			assert.ErrorIs(t, out.Err, tc.err)
		})
	}
}

// The handler sees the job RunJob was asked for, under a deadline.
func TestRunJobHandsOverTheJob(t *testing.T) {
	t.Parallel()
	var got *jetpool.Job
	var deadline bool
	h := jetpool.HandlerFunc(func(ctx context.Context, job *jetpool.Job) error {
		got = job
		_, deadline = ctx.Deadline()
		return nil
	})
	out := jetpooltest.RunJob(t, h, []byte(`{"n":1}`), jetpooltest.JobOptions{ID: "job-1", Queue: "emails", Batch: "b1", Attempt: 2,
		Headers: map[string][]string{"X-Tenant": {"acme"}}})
	require.Equal(t, jetpooltest.Completed, out.State)
	require.NotNil(t, got)
	assert.Equal(t, "job-1", got.ID)
	assert.Equal(t, "emails", got.Queue)
	assert.Equal(t, "b1", got.Batch)
	assert.Equal(t, []byte(`{"n":1}`), got.Payload)
	assert.Equal(t, 2, got.Attempt)
	assert.Equal(t, "acme", got.Headers.Get("X-Tenant"))
	assert.Equal(t, "job-1", got.Headers.Get(jetpool.HeaderMsgID))
	assert.False(t, got.Enqueued.IsZero())
	assert.True(t, deadline, "the handler's context has the job timeout")
}

// Forwarded jobs are recorded with the IDs a pool gives them, and a bad
// queue name is refused as a pool refuses it.
func TestRunJobRecordsForwards(t *testing.T) {
	t.Parallel()
	h := jetpool.HandlerFunc(func(ctx context.Context, job *jetpool.Job) error {
		for _, q := range []string{"resize", "resize", "notify"} {
			if _, err := job.Forward(ctx, q, append([]byte(q+":"), job.Payload...), nil); err != nil {
				return err
			}
		}
		_, err := job.Forward(ctx, "bad queue", nil, nil)
		assert.ErrorIs(t, err, jetpool.ErrInvalidName)
		return nil
	})
	out := jetpooltest.RunJob(t, h, []byte("img"), jetpooltest.JobOptions{ID: "job-1", Batch: "b1"})
	require.Equal(t, jetpooltest.Completed, out.State)
	require.Len(t, out.Forwarded, 3)
	for i, want := range []struct{ queue, id string }{
		{"resize", consumer.ForwardID("job-1", "resize", 0)},
		{"resize", consumer.ForwardID("job-1", "resize", 1)},
		{"notify", consumer.ForwardID("job-1", "notify", 2)},
	} {
		f := out.Forwarded[i]
		assert.Equal(t, want.queue, f.Queue)
		assert.Equal(t, want.id, f.ID)
		assert.Equal(t, "b1", f.Batch)
		assert.Equal(t, want.queue+":img", string(f.Payload))
		assert.Equal(t, "job-1", f.Headers.Get(jetpool.HeaderParent))
	}
}
