package producer_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/producer"
	"github.com/jetpool/jetpool/topology"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// storedJob is one message of the work stream, read without jetpool.
type storedJob struct {
	batch, id, payload, item string
}

// storedJobs reads, and removes, every message of the work stream through
// the queue's consumer, with no pool running.
func storedJobs(t *testing.T, js jetstream.JetStream, queue string) []storedJob {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	names := jetpool.DefaultNames()
	stream, err := js.Stream(ctx, names.WorkStream())
	require.NoError(t, err)
	want := int(stream.CachedInfo().State.Msgs)
	cons, err := stream.Consumer(ctx, names.ConsumerName(queue))
	require.NoError(t, err)
	var jobs []storedJob
	for len(jobs) < want {
		batch, err := cons.Fetch(min(want-len(jobs), 1000), jetstream.FetchMaxWait(10*time.Second))
		require.NoError(t, err)
		for msg := range batch.Messages() {
			_, b, ok := names.SplitSubject(msg.Subject())
			require.True(t, ok, msg.Subject())
			jobs = append(jobs, storedJob{batch: b, id: msg.Headers().Get(jetpool.HeaderMsgID),
				payload: string(msg.Data()), item: msg.Headers().Get("X-Item")})
			require.NoError(t, msg.Ack())
		}
		require.NoError(t, batch.Error(), "read %d of %d messages", len(jobs), want)
	}
	return jobs
}

// ownPayloads are n jobs job-0, job-1, … whose payloads name them.
func ownPayloads(n int) []producer.Item {
	in := make([]producer.Item, n)
	for i := range in {
		id := fmt.Sprintf("job-%d", i)
		in[i] = producer.Item{ID: id, Payload: []byte("payload of " + id)}
	}
	return in
}

// A window reuses the message of a stored job for the next one: every
// stored message must still carry its own job's ID, payload and headers,
// with a window far smaller than the batch so that messages go round many
// times, and some jobs with headers of their own among them.
func TestBatchMessagesCarryTheirOwnJob(t *testing.T) {
	t.Parallel()
	env, _ := setup(t, topology.Options{}, "q")
	p, err := producer.New(env.JS, producer.Options{Logger: env.Log, Window: 16})
	require.NoError(t, err)
	const n = 3000
	in := ownPayloads(n)
	for i := range in {
		if i%7 == 0 {
			in[i].Headers = nats.Header{"X-Item": []string{in[i].ID}}
		}
	}
	b, err := p.EnqueueBatch(context.Background(), "q", in, producer.WithBatch("own"))
	require.NoError(t, err)
	require.Equal(t, n, b.Enqueued)

	jobs := storedJobs(t, env.JS, "q")
	require.Len(t, jobs, n)
	seen := map[string]bool{}
	for _, j := range jobs {
		assert.False(t, seen[j.id], "job %s stored twice", j.id)
		seen[j.id] = true
		assert.Equal(t, "payload of "+j.id, j.payload, "job %s", j.id)
		var i int
		_, err := fmt.Sscanf(j.id, "job-%d", &i)
		require.NoError(t, err)
		if i%7 == 0 {
			assert.Equal(t, j.id, j.item, "job %s lost its own header", j.id)
		} else {
			assert.Empty(t, j.item, "job %s got another job's header", j.id)
		}
	}
	assert.Len(t, seen, n)
}

// An enqueue whose context ends with publishes unanswered gives up its
// publisher; the producer's next batch publishes exactly, undisturbed by
// the answers still due to the first.
func TestBatchAfterACancelledOneIsExact(t *testing.T) {
	t.Parallel()
	env, p := setup(t, topology.Options{}, "q")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel once the first jobs are stored, with most still to send.
		defer cancel()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if s, err := env.JS.Stream(ctx, jetpool.DefaultNames().WorkStream()); err == nil && s.CachedInfo().State.Msgs > 0 {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	first, err := p.EnqueueBatch(ctx, "q", items("first", 50000), producer.WithBatch("first"))
	require.Error(t, err, "the cancel came after the whole batch was stored: nothing was tested")
	require.NotNil(t, first)
	require.Less(t, first.Enqueued, 50000)

	second, err := p.EnqueueBatch(context.Background(), "q", items("second", 5000), producer.WithBatch("second"))
	require.NoError(t, err)
	assert.Equal(t, 5000, second.Enqueued)
	assert.Empty(t, second.Failed)
	ids := map[string]int{}
	for _, j := range storedJobs(t, env.JS, "q") {
		if j.batch == "second" {
			ids[j.id]++
		}
	}
	assert.Len(t, ids, 5000)
	for id, n := range ids {
		assert.Equal(t, 1, n, "job %s stored %d times", id, n)
	}
}

// Publishes that time out are sent again, and stored jobs' messages carry
// later ones: with an acknowledgement timeout far below the broker's answer
// time, every job must still be stored once, with its own payload, and the
// manifest must count each once.
func TestBatchUnderAckTimeoutsStoresEachJobOnce(t *testing.T) {
	t.Parallel()
	env, _ := setup(t, topology.Options{}, "q")
	p, err := producer.New(env.JS, producer.Options{Logger: env.Log, Window: 64, AckTimeout: 3 * time.Millisecond})
	require.NoError(t, err)
	const n = 4000
	in := ownPayloads(n)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := p.EnqueueBatch(ctx, "q", in, producer.WithBatch("hurried"))
	require.NoError(t, err)
	assert.Equal(t, n, b.Enqueued+b.Repeated, "every job stored, by this publish or an earlier one of its own")
	t.Logf("%d enqueued, %d found stored by an earlier publish of theirs", b.Enqueued, b.Repeated)

	copies := map[string]int{}
	for _, j := range storedJobs(t, env.JS, "q") {
		copies[j.id]++
		assert.Equal(t, "payload of "+j.id, j.payload, "job %s", j.id)
	}
	assert.Len(t, copies, n)
	for id, c := range copies {
		assert.Equal(t, 1, c, "job %s stored %d times", id, c)
	}
	m, err := p.Manifest(ctx, "hurried")
	require.NoError(t, err)
	assert.Equal(t, n, m.Expected)
	assert.True(t, m.Sealed)
}

// A producer keeps a few publishers for later batches, not one per batch
// it ever ran: after many batches at once, the connection holds no more
// than a few reply subscriptions.
func TestConcurrentBatchesLeaveFewSubscriptions(t *testing.T) {
	t.Parallel()
	env, p := setup(t, topology.Options{}, "q")
	base := env.Conn.NumSubscriptions()
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			_, err := p.EnqueueBatch(context.Background(), "q", items(fmt.Sprintf("c%d", i), 500), producer.WithBatch(fmt.Sprintf("c%d", i)))
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	extra := env.Conn.NumSubscriptions() - base
	t.Logf("%d subscriptions beyond the %d before", extra, base)
	assert.LessOrEqual(t, extra, 4+1, "at most the 4 idle publishers' reply subscriptions, and one other")
}

// Close lets go of the idle publisher a batch left behind, and is final:
// later enqueues fail with ErrClosed, and a second Close changes nothing.
func TestCloseReleasesThePublishersAndIsFinal(t *testing.T) {
	t.Parallel()
	env, p := setup(t, topology.Options{}, "q")
	ctx := context.Background()
	_, err := p.EnqueueBatch(ctx, "q", items("a", 100), producer.WithBatch("a"))
	require.NoError(t, err)
	kept := env.Conn.NumSubscriptions()
	p.Close()
	closed := env.Conn.NumSubscriptions()
	assert.Equal(t, kept-1, closed, "the idle publisher's reply subscription is gone")
	p.Close()
	assert.Equal(t, closed, env.Conn.NumSubscriptions(), "a second Close changes nothing")

	_, err = p.EnqueueBatch(ctx, "q", items("b", 100), producer.WithBatch("b"))
	require.ErrorIs(t, err, producer.ErrClosed)
	_, err = p.Enqueue(ctx, "q", []byte("x"))
	require.ErrorIs(t, err, producer.ErrClosed)
	s, err := env.JS.Stream(ctx, jetpool.DefaultNames().WorkStream())
	require.NoError(t, err)
	assert.EqualValues(t, 100, s.CachedInfo().State.Msgs, "only the batch before Close stored")
}

// EnqueueBatch takes IDs and headers from its items and refuses the
// options that set them for one Enqueue.
func TestEnqueueBatchRefusesPerJobOptions(t *testing.T) {
	t.Parallel()
	_, p := setup(t, topology.Options{}, "q")
	_, err := p.EnqueueBatch(context.Background(), "q", items("a", 1), producer.WithID("j"))
	require.ErrorContains(t, err, `producer: WithID("j")`)
	_, err = p.EnqueueBatch(context.Background(), "q", items("a", 1), producer.WithHeaders(nats.Header{"k": {"v"}}))
	require.ErrorContains(t, err, "producer: WithHeaders")
}

// Zero means the default; a negative number or duration is refused, naming
// the field and the value.
func TestNegativeOptionsAreRefused(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	for _, tc := range []struct {
		opts producer.Options
		want string
	}{
		{producer.Options{Timeout: -time.Second}, "producer: Timeout -1s"},
		{producer.Options{Window: -3}, "producer: Window -3"},
		{producer.Options{AckTimeout: -time.Second}, "producer: AckTimeout -1s"},
		{producer.Options{RequestTimeout: -time.Second}, "producer: RequestTimeout -1s"},
	} {
		_, err := producer.New(env.JS, tc.opts)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
	}
}
