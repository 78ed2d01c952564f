package topology_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/topology"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var names = jetpool.DefaultNames()

func streamNames(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l := js.StreamNames(ctx)
	var out []string
	for n := range l.Name() {
		out = append(out, n)
	}
	require.NoError(t, l.Err())
	return out
}

// Nothing that opens the topology creates any of it.
func TestOpenNeverCreates(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var missing *topology.MissingError
	_, err := topology.OpenWorkStream(ctx, env.JS, names)
	require.ErrorAs(t, err, &missing)
	assert.ErrorIs(t, err, jetstream.ErrStreamNotFound)
	assert.EqualError(t, err, "stream JETPOOL_JOBS not found")
	_, err = topology.OpenDeadStream(ctx, env.JS, names)
	assert.EqualError(t, err, "stream JETPOOL_DEAD not found")
	_, _, err = topology.OpenStreams(ctx, env.JS, names)
	assert.ErrorIs(t, err, jetstream.ErrStreamNotFound)
	_, err = topology.OpenBatches(ctx, env.JS, names)
	assert.ErrorIs(t, err, jetstream.ErrBucketNotFound)
	assert.EqualError(t, err, "bucket jetpool_batches not found")
	_, err = topology.OpenLeases(ctx, env.JS, names)
	assert.EqualError(t, err, "bucket jetpool_leases not found")
	_, err = topology.OpenQueue(ctx, env.JS, topology.Options{}, "q", 10)
	assert.EqualError(t, err, "stream JETPOOL_JOBS not found")
	_, err = topology.CreateQueue(ctx, env.JS, topology.Options{}, "q", 10)
	assert.EqualError(t, err, "stream JETPOOL_JOBS not found", "CreateQueue never creates a stream")
	assert.Empty(t, streamNames(t, env.JS))

	require.NoError(t, topology.EnsureStreams(ctx, env.JS, topology.Options{}))
	_, err = topology.OpenQueue(ctx, env.JS, topology.Options{}, "q", 10)
	assert.ErrorIs(t, err, jetstream.ErrConsumerNotFound)
	assert.EqualError(t, err, "consumer q of stream JETPOOL_JOBS not found")
	assert.ElementsMatch(t, []string{"JETPOOL_JOBS", "JETPOOL_DEAD"}, streamNames(t, env.JS))
}

// A waiter retries while the topology is missing, says once what is missing
// and what to do, and proceeds once it is provisioned.
func TestWaiterWaitsForProvision(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	var logs natstest.Buffer
	w := topology.Waiter{Logger: natstest.BufferLogger(&logs), Hint: `run "jetpool provision q"`}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	type result struct {
		kv  jetstream.KeyValue
		err error
	}
	done := make(chan result, 1)
	var attempts atomic.Int64
	go func() {
		var kv jetstream.KeyValue
		err := w.Wait(ctx, func(ctx context.Context) (err error) {
			attempts.Add(1)
			if _, _, err = topology.OpenStreams(ctx, env.JS, names); err != nil {
				return err
			}
			kv, err = topology.OpenBatches(ctx, env.JS, names)
			return err
		})
		done <- result{kv, err}
	}()
	natstest.Eventually(t, 10*time.Second, func() bool { return strings.Contains(logs.String(), "waiting for the jetpool topology") }, "waiting logged")
	more := attempts.Load() + 2
	natstest.Eventually(t, 10*time.Second, func() bool { return attempts.Load() >= more }, "the waiter tries again")
	assert.Empty(t, streamNames(t, env.JS), "the waiter created nothing")
	select {
	case r := <-done:
		t.Fatalf("returned before provisioning: %v", r.err)
	default:
	}

	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{Replicas: 1}))
	r := <-done
	require.NoError(t, r.err)
	assert.Equal(t, names.BatchBucket(), r.kv.Bucket())
	out := logs.String()
	assert.Equal(t, 1, strings.Count(out, "waiting for the jetpool topology"), out)
	assert.Contains(t, out, `level=WARN msg="waiting for the jetpool topology: stream JETPOOL_JOBS not found; run \"jetpool provision q\""`)
	assert.Contains(t, out, `msg="jetpool topology ready"`)
}

// When the caller's context ends, the error names what is missing and wraps
// both the cause and the context's error.
func TestWaiterGivesUpNamingWhatIsMissing(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	require.NoError(t, topology.EnsureStreams(context.Background(), env.JS, topology.Options{}))
	var logs natstest.Buffer
	w := topology.Waiter{Logger: natstest.BufferLogger(&logs)}
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	err := w.Wait(ctx, func(ctx context.Context) error {
		_, err := topology.OpenQueue(ctx, env.JS, topology.Options{}, "q", 0)
		return err
	})
	require.Error(t, err)
	assert.ErrorIs(t, err, jetstream.ErrConsumerNotFound)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.EqualError(t, err, `jetpool topology not ready: consumer q of stream JETPOOL_JOBS not found; `+topology.DefaultWaitHint+`: context deadline exceeded`)
	assert.Equal(t, 1, strings.Count(logs.String(), "waiting for the jetpool topology"))
}

// An error that waiting cannot cure is returned at once.
func TestWaiterReturnsOtherErrorsAtOnce(t *testing.T) {
	boom := errors.New("permission denied")
	calls := 0
	began := time.Now()
	err := topology.Waiter{Logger: slog.New(slog.DiscardHandler)}.Wait(context.Background(), func(context.Context) error {
		calls++
		return boom
	})
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, 1, calls)
	assert.Less(t, time.Since(began), time.Second)
}

// The warning comes again at most every LogEvery, also across calls that
// share a WaitLog, and the delay between attempts grows to Max.
func TestWaiterLogsAtMostEveryLogEvery(t *testing.T) {
	var logs natstest.Buffer
	var wl topology.WaitLog
	w := topology.Waiter{Logger: natstest.BufferLogger(&logs), Initial: time.Millisecond, Max: 20 * time.Millisecond, LogEvery: 300 * time.Millisecond, Log: &wl}
	missing := &topology.MissingError{Kind: "stream", Name: "JETPOOL_JOBS", Err: jetstream.ErrStreamNotFound}
	var calls int
	began := time.Now()
	for range 10 { // ten short calls, as a caller retrying per request would
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := w.Wait(ctx, func(context.Context) error { calls++; return missing })
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	elapsed := time.Since(began)
	n := strings.Count(logs.String(), "waiting for the jetpool topology")
	assert.GreaterOrEqual(t, n, 2, logs.String())
	assert.LessOrEqual(t, n, int(elapsed/(300*time.Millisecond))+1, logs.String())
	assert.Less(t, calls, 120, "attempts back off")
	assert.Contains(t, logs.String(), "waited=", "a later warning says how long the wait has lasted")

	require.NoError(t, w.Wait(context.Background(), func(context.Context) error { return nil }))
	assert.Contains(t, logs.String(), "jetpool topology ready")
}

// Transient JetStream failures are waited out like a missing object.
func TestWaiterRidesOutTransientErrors(t *testing.T) {
	var logs natstest.Buffer
	w := topology.Waiter{Logger: natstest.BufferLogger(&logs), Initial: time.Millisecond}
	unavailable := &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}
	errs := []error{nats.ErrNoResponders, nats.ErrTimeout, unavailable}
	calls := 0
	err := w.Wait(context.Background(), func(context.Context) error {
		if calls < len(errs) {
			calls++
			return errs[calls-1]
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 3, calls)
	assert.Contains(t, logs.String(), "waiting for the jetpool topology: JetStream unavailable: nats: no responders")
}

func TestTransient(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("boom"), false},
		{nats.ErrTimeout, true},
		{context.DeadlineExceeded, true},
		{fmt.Errorf("wrapped: %w", nats.ErrNoResponders), true},
		{nats.ErrConnectionReconnecting, true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10008}, true},
		{&jetstream.APIError{Code: 409, ErrorCode: 10158}, true},  // duplicate ID still being committed
		{&jetstream.APIError{Code: 503, ErrorCode: 10077}, false}, // maximum messages exceeded: a refusal
		{&jetstream.APIError{Code: 503}, true},                    // no responders status
		{nats.ErrReconnectBufExceeded, true},
		{jetstream.ErrAsyncPublishTimeout, true},
		{jetstream.ErrJetStreamNotEnabled, false},
		{jetstream.ErrJetStreamNotEnabledForAccount, false},
		{jetstream.ErrStreamNotFound, false},
		{context.Canceled, false},
	} {
		assert.Equal(t, tc.want, topology.Transient(tc.err), "%v", tc.err)
	}
}

// CreateMissing creates what is missing, as Provision would, and never
// changes what exists, whoever created it.
func TestCreateMissingLeavesExistingAlone(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Provisioning set the stream and the consumer up its way.
	provisioned := topology.Options{MaxMsgs: 1234, AckWait: 7 * time.Second}
	require.NoError(t, topology.EnsureStreams(ctx, env.JS, provisioned))
	_, err := topology.EnsureQueue(ctx, env.JS, provisioned, "q", 0)
	require.NoError(t, err)

	require.NoError(t, topology.CreateMissing(ctx, env.JS, topology.Options{}, "q", "other"))
	work, err := env.JS.Stream(ctx, names.WorkStream())
	require.NoError(t, err)
	assert.EqualValues(t, 1234, work.CachedInfo().Config.MaxMsgs, "existing stream unchanged")
	q, err := work.Consumer(ctx, "q")
	require.NoError(t, err)
	assert.Equal(t, 7*time.Second, q.CachedInfo().Config.AckWait, "existing consumer unchanged")
	other, err := work.Consumer(ctx, "other")
	require.NoError(t, err, "missing consumer created")
	assert.Equal(t, topology.DefaultAckWait, other.CachedInfo().Config.AckWait)
	_, err = topology.OpenDeadStream(ctx, env.JS, names)
	assert.NoError(t, err, "missing dead stream created")
	for _, open := range []func(context.Context, jetstream.JetStream, jetpool.Names) (jetstream.KeyValue, error){topology.OpenBatches, topology.OpenLeases} {
		_, err := open(ctx, env.JS, names)
		assert.NoError(t, err, "missing bucket created")
	}

	// Run again, nothing changes; Provision still updates.
	require.NoError(t, topology.CreateMissing(ctx, env.JS, topology.Options{MaxMsgs: 99}))
	info, err := work.Info(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1234, info.Config.MaxMsgs)
	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{MaxMsgs: 99}))
	info, err = work.Info(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 99, info.Config.MaxMsgs)
}

// CreateQueue creates a missing consumer on a provisioned stream, opens one
// provisioning created, and raises MaxAckPending but changes nothing else.
func TestCreateQueue(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{AckWait: 9 * time.Second, MaxAckPending: 50}, "provisioned"))

	c, err := topology.CreateQueue(ctx, env.JS, topology.Options{AckWait: 3 * time.Second}, "fresh", 20)
	require.NoError(t, err)
	cfg := c.CachedInfo().Config
	assert.Equal(t, 3*time.Second, cfg.AckWait)
	assert.Equal(t, names.QueueFilter("fresh"), cfg.FilterSubject)
	assert.Equal(t, jetstream.AckExplicitPolicy, cfg.AckPolicy)

	c, err = topology.CreateQueue(ctx, env.JS, topology.Options{AckWait: 3 * time.Second}, "provisioned", 80)
	require.NoError(t, err)
	cfg = c.CachedInfo().Config
	assert.Equal(t, 9*time.Second, cfg.AckWait, "provisioning's configuration wins")
	assert.Equal(t, 80, cfg.MaxAckPending, "raised to the pool's needs")

	_, err = topology.CreateQueue(ctx, env.JS, topology.Options{}, "bad.queue", 0)
	assert.ErrorContains(t, err, `"bad.queue"`)
}

// Leases, the manager's entry point, waits for the bucket and never creates
// it.
