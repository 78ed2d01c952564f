package protocoltest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/broker"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/dlq"
	"github.com/jetpool/jetpool/producer"
	"github.com/jetpool/jetpool/topology"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The names docs/protocol.md gives for the default prefix. They are
// written out, not derived from jetpool's code, so that a renamed subject
// or bucket fails here as it would fail a client in another language.
const (
	workStream  = "JETPOOL_JOBS"
	deadStream  = "JETPOOL_DEAD"
	batchBucket = "jetpool_batches"
	returnsKV   = "jetpool_returns"
	queue       = "proto"
)

func jobSubject(q, batch string) string  { return "jetpool.jobs." + q + "." + batch }
func deadSubject(q, batch string) string { return "jetpool.dead." + q + "." + batch }

// env is a provisioned embedded server and a plain client.
type env struct {
	js  jetstream.JetStream
	ctx context.Context
}

// start runs an embedded broker and provisions the topology with jetpool's
// packages; everything after that is the plain client's.
func start(t *testing.T) env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	srv, err := broker.Start(broker.Options{StoreDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, srv.Shutdown(context.Background())) })
	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	require.NoError(t, topology.Provision(ctx, js, topology.Options{}, queue))
	return env{js: js, ctx: ctx}
}

// report is the batch report as docs/protocol.md computes it.
type report struct {
	Batch          string         `json:"batch"`
	Queue          string         `json:"queue"`
	Expected       int            `json:"expected"`
	Completed      int            `json:"completed"`
	Dead           int            `json:"dead"`
	DeadByQueue    map[string]int `json:"dead_by_queue"`
	Pending        int            `json:"pending"`
	PendingByQueue map[string]int `json:"pending_by_queue"`
	Sealed         bool           `json:"sealed"`
	Done           bool           `json:"done"`
}

// manifest reads key batch of the batch bucket as a JSON object, keeping
// every field, and its revision.
func (e env) manifest(t *testing.T, batch string) (map[string]any, uint64) {
	t.Helper()
	kv, err := e.js.KeyValue(e.ctx, batchBucket)
	require.NoError(t, err)
	entry, err := kv.Get(e.ctx, batch)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(entry.Value(), &m))
	return m, entry.Revision()
}

// countBy snapshots stream with subjects_filter filter and counts its
// messages per queue, the token after <prefix>.jobs or <prefix>.dead.
func (e env) countBy(t *testing.T, stream, filter string) (map[string]int, int) {
	t.Helper()
	s, err := e.js.Stream(e.ctx, stream)
	require.NoError(t, err)
	info, err := s.Info(e.ctx, jetstream.WithSubjectFilter(filter))
	require.NoError(t, err)
	by, total := map[string]int{}, 0
	for subject, n := range info.State.Subjects {
		tokens := strings.Split(subject, ".")
		require.Len(t, tokens, 4, subject)
		by[tokens[2]] += int(n)
		total += int(n)
	}
	return by, total
}

// readReport follows "Reading a batch report": the manifest, its recorded
// report if any, else the work stream and then the dead-letter stream.
func (e env) readReport(t *testing.T, batch string) report {
	t.Helper()
	m, _ := e.manifest(t, batch)
	if rec, ok := m["report"]; ok {
		data, err := json.Marshal(rec)
		require.NoError(t, err)
		var r report
		require.NoError(t, json.Unmarshal(data, &r))
		return r
	}
	r := report{Batch: batch, Queue: str(m["queue"]), Expected: num(m["expected"]), Sealed: m["sealed"] == true}
	r.PendingByQueue, r.Pending = e.countBy(t, workStream, "jetpool.jobs.*."+batch)
	r.DeadByQueue, r.Dead = e.countBy(t, deadStream, "jetpool.dead.*."+batch)
	r.Completed = max(0, r.Expected-r.Pending-r.Dead)
	r.Done = r.Sealed && r.Pending == 0
	return r
}

func str(v any) string { s, _ := v.(string); return s }

func num(v any) int { f, _ := v.(float64); return int(f) }

// publish enqueues one job as "Enqueueing a job" says and reports whether
// JetStream called it a duplicate.
func (e env) publish(t *testing.T, batch, id, payload string, extra nats.Header) bool {
	t.Helper()
	msg := nats.NewMsg(jobSubject(queue, batch))
	msg.Data = []byte(payload)
	for k, v := range extra {
		msg.Header[k] = v
	}
	msg.Header.Set("Nats-Msg-Id", id)
	ack, err := e.js.PublishMsg(e.ctx, msg)
	require.NoError(t, err)
	assert.Equal(t, workStream, ack.Stream)
	return ack.Duplicate
}

// declare opens batch (step 1 of "Declaring a batch"), runs publish, and
// seals it with the count of new jobs (step 3).
func (e env) declare(t *testing.T, batch string, publish func() int) {
	t.Helper()
	kv, err := e.js.KeyValue(e.ctx, batchBucket)
	require.NoError(t, err)
	opened, err := json.Marshal(map[string]any{
		"id": batch, "queue": queue, "created": time.Now().UTC().Format(time.RFC3339Nano), "sealed": false,
	})
	require.NoError(t, err)
	_, err = kv.Create(e.ctx, batch, opened)
	require.NoError(t, err)

	n := publish()

	op := fmt.Sprintf("seal-%d", time.Now().UnixNano())
	for {
		m, rev := e.manifest(t, batch)
		ops, _ := m["ops"].([]any)
		for _, o := range ops {
			require.NotEqual(t, op, o, "applied by an earlier attempt")
		}
		m["singles"] = num(m["singles"]) + n
		m["expected"] = num(m["expected"]) + n
		m["sealed"] = true
		delete(m, "report")
		delete(m, "finished")
		ops = append(ops, op)
		m["ops"] = ops[max(0, len(ops)-16):]
		data, err := json.Marshal(m)
		require.NoError(t, err)
		_, err = kv.Update(e.ctx, batch, data, rev)
		if err == nil {
			return
		}
		var apiErr *jetstream.APIError
		require.True(t, errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence, "update manifest: %v", err)
	}
}

// job is a delivered job as "Running jobs" reads it.
type job struct {
	msg      jetstream.Msg
	id       string
	queue    string
	batch    string
	seq      uint64
	attempt  int
	enqueued time.Time
}

func decode(t *testing.T, msg jetstream.Msg) job {
	t.Helper()
	meta, err := msg.Metadata()
	require.NoError(t, err)
	j := job{msg: msg, seq: meta.Sequence.Stream, attempt: int(meta.NumDelivered), enqueued: meta.Timestamp}
	h := msg.Headers()
	switch {
	case h.Get("Jetpool-Job-Id") != "":
		j.id = h.Get("Jetpool-Job-Id")
	case h.Get("Nats-Msg-Id") != "":
		j.id = h.Get("Nats-Msg-Id")
	default:
		j.id = "seq-" + strconv.FormatUint(j.seq, 10)
	}
	tokens := strings.Split(msg.Subject(), ".")
	require.Len(t, tokens, 4, msg.Subject())
	require.Equal(t, []string{"jetpool", "jobs"}, tokens[:2])
	j.queue, j.batch = tokens[2], tokens[3]
	if s := h.Get("Jetpool-Enqueued"); s != "" {
		j.enqueued, err = time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
	}
	return j
}

// fetch pulls n jobs from the queue's durable consumer.
func (e env) fetch(t *testing.T, n int) []job {
	t.Helper()
	cons, err := e.js.Consumer(e.ctx, workStream, queue)
	require.NoError(t, err)
	var out []job
	for len(out) < n {
		batch, err := cons.Fetch(n-len(out), jetstream.FetchMaxWait(5*time.Second))
		require.NoError(t, err)
		for msg := range batch.Messages() {
			out = append(out, decode(t, msg))
		}
		require.NoError(t, batch.Error())
		require.NoError(t, e.ctx.Err(), "fetched %d of %d jobs", len(out), n)
	}
	return out
}

// deadLetter follows "Dead-lettering": the copy first, the term after.
func (e env) deadLetter(t *testing.T, j job, reason string) {
	t.Helper()
	dead := nats.NewMsg(deadSubject(j.queue, j.batch))
	dead.Data = j.msg.Data()
	for k, v := range j.msg.Headers() {
		dead.Header[k] = v
	}
	dead.Header.Set("Nats-Msg-Id", "dead-"+j.queue+"-"+strconv.FormatUint(j.seq, 10))
	dead.Header.Set("Jetpool-Job-Id", j.id)
	dead.Header.Set("Jetpool-Queue", j.queue)
	dead.Header.Set("Jetpool-Batch", j.batch)
	dead.Header.Set("Jetpool-Error", reason)
	dead.Header.Set("Jetpool-Attempts", strconv.Itoa(j.attempt))
	dead.Header.Set("Jetpool-Dead-At", time.Now().UTC().Format(time.RFC3339Nano))
	ack, err := e.js.PublishMsg(e.ctx, dead)
	require.NoError(t, err)
	require.Equal(t, deadStream, ack.Stream)
	require.NoError(t, j.msg.Term())
}

// awaitReport reads the report until cond holds or the test's deadline.
func (e env) awaitReport(t *testing.T, batch string, cond func(report) bool) report {
	t.Helper()
	for {
		r := e.readReport(t, batch)
		if cond(r) {
			return r
		}
		select {
		case <-e.ctx.Done():
			t.Fatalf("report of batch %s never met the condition; last: %+v", batch, r)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// A batch enqueued, run and dead-lettered by a plain client, exactly as
// docs/protocol.md says, is reported the same by the document's recipe and
// by jetpool, and jetpool reads the plain dead letter as its own.
func TestPlainClientFollowsTheProtocol(t *testing.T) {
	e := start(t)
	const batch = "plain"
	const maxAttempts = 2 // the worker's own limit

	// Declaring a batch: open, publish, seal.
	e.declare(t, batch, func() int {
		before := e.readReport(t, batch)
		assert.False(t, before.Sealed, "an opened batch is not sealed")
		assert.False(t, before.Done, "an opened batch is never done")
		n := 0
		for _, id := range []string{"a", "b", "c", "poison"} {
			if !e.publish(t, batch, id, "payload of "+id, nats.Header{"X-User": []string{"u-" + id}}) {
				n++
			}
		}
		// A publish sent again with the same Nats-Msg-Id stores nothing.
		assert.True(t, e.publish(t, batch, "a", "payload of a", nil), "a resent job is a duplicate")
		return n
	})

	r := e.readReport(t, batch)
	assert.Equal(t, report{Batch: batch, Queue: queue, Expected: 4, Pending: 4, PendingByQueue: map[string]int{queue: 4},
		DeadByQueue: map[string]int{}, Sealed: true}, r)
	m, _ := e.manifest(t, batch)
	assert.Equal(t, 4, num(m["singles"]), "expected = settled + len(stored) + singles")

	prod, err := producer.New(e.js, producer.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer prod.Close()
	own, err := prod.Reconcile(e.ctx, batch)
	require.NoError(t, err)
	assert.Equal(t, [4]int{4, 0, 0, 4}, [4]int{own.Expected, own.Completed, own.Dead, own.Pending}, "jetpool's report")
	assert.False(t, own.Done)

	// Running jobs: one pull, every job decoded as the document says.
	jobs := e.fetch(t, 4)
	byID := map[string]job{}
	for _, j := range jobs {
		assert.Equal(t, queue, j.queue)
		assert.Equal(t, batch, j.batch)
		assert.Equal(t, 1, j.attempt, "first delivery of %s", j.id)
		assert.Equal(t, "payload of "+j.id, string(j.msg.Data()))
		assert.Equal(t, "u-"+j.id, j.msg.Headers().Get("X-User"), "user headers reach the worker")
		assert.WithinDuration(t, time.Now(), j.enqueued, time.Minute, "the stream's timestamp is the enqueue time")
		byID[j.id] = j
	}
	require.Len(t, byID, 4)

	// Still running: in progress keeps the job; done: acknowledged.
	require.NoError(t, byID["a"].msg.InProgress())
	for _, id := range []string{"a", "b"} {
		require.NoError(t, byID[id].msg.DoubleAck(e.ctx))
	}

	// Not started, given back: the return recorded first, then a plain NAK.
	kv, err := e.js.KeyValue(e.ctx, returnsKV)
	require.NoError(t, err)
	c := byID["c"]
	_, err = kv.Create(e.ctx, returnKey(c), []byte("1"))
	require.NoError(t, err)
	require.NoError(t, c.msg.Nak())

	// Failed, to retry: a NAK with a delay; the next delivery is attempt 2.
	require.NoError(t, byID["poison"].msg.NakWithDelay(20*time.Millisecond))

	again := e.fetch(t, 2)
	for _, j := range again {
		switch j.id {
		case "c":
			assert.Equal(t, 2, j.attempt, "JetStream counts the returned delivery")
			entry, err := kv.Get(e.ctx, returnKey(j))
			require.NoError(t, err)
			returned, err := strconv.Atoi(string(entry.Value()))
			require.NoError(t, err)
			assert.Equal(t, 1, j.attempt-min(returned, j.attempt-1), "a return is not an attempt")
			require.NoError(t, j.msg.DoubleAck(e.ctx))
			require.NoError(t, kv.Purge(e.ctx, returnKey(j)))
		case "poison":
			assert.Equal(t, maxAttempts, j.attempt)
			e.deadLetter(t, j, fmt.Sprintf("max attempts exceeded (%d): it is poison", maxAttempts))
		default:
			t.Fatalf("unexpected job %s", j.id)
		}
	}

	// The report: three completed, one dead, done.
	want := report{Batch: batch, Queue: queue, Expected: 4, Completed: 3, Dead: 1, DeadByQueue: map[string]int{queue: 1},
		PendingByQueue: map[string]int{}, Sealed: true, Done: true}
	r = e.awaitReport(t, batch, func(r report) bool { return r.Done })
	assert.Equal(t, want, r)

	// jetpool agrees, records the final report, and the document's reader
	// then takes it from the manifest.
	final, err := prod.Wait(e.ctx, batch)
	require.NoError(t, err)
	assert.Equal(t, [4]int{4, 3, 1, 0}, [4]int{final.Expected, final.Completed, final.Dead, final.Pending}, "jetpool's report")
	assert.True(t, final.Done)
	m, _ = e.manifest(t, batch)
	require.Contains(t, m, "report", "a waiter records the final report")
	require.Contains(t, m, "finished")
	recorded := e.readReport(t, batch)
	assert.Equal(t, [4]int{4, 3, 1, 0}, [4]int{recorded.Expected, recorded.Completed, recorded.Dead, recorded.Pending})
	assert.True(t, recorded.Done)

	// jetpool's dead-letter admin reads the plain dead letter.
	admin, err := dlq.New(e.js, dlq.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	letters, err := admin.List(e.ctx, queue)
	require.NoError(t, err)
	require.Len(t, letters, 1)
	l := letters[0]
	assert.Equal(t, "poison", l.JobID)
	assert.Equal(t, batch, l.Batch)
	assert.Equal(t, maxAttempts, l.Attempts)
	assert.Contains(t, l.Error, "it is poison")
	assert.WithinDuration(t, time.Now(), l.DeadAt, time.Minute)
	assert.Equal(t, "payload of poison", string(l.Payload))
	assert.Equal(t, "u-poison", l.Headers.Get("X-User"), "a dead letter keeps the original headers")
}

// returnKey is a job's key in the return bucket: Q.<stream sequence>.<FNV-1a
// of the job ID in hexadecimal>.
func returnKey(j job) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(j.id))
	return j.queue + "." + strconv.FormatUint(j.seq, 10) + "." + strconv.FormatUint(h.Sum64(), 16)
}

// A delivery a plain worker gives back unstarted, its return recorded as
// "Returns" says, is not charged as an attempt by a jetpool worker that
// runs the job next, and that worker drops the count once it is done.
func TestReturnIsNotAnAttemptForJetpool(t *testing.T) {
	e := start(t)
	const batch = "returned"
	e.declare(t, batch, func() int {
		require.False(t, e.publish(t, batch, "r", "given back", nil))
		return 1
	})
	kv, err := e.js.KeyValue(e.ctx, returnsKV)
	require.NoError(t, err)
	j := e.fetch(t, 1)[0]
	_, err = kv.Create(e.ctx, returnKey(j), []byte("1"))
	require.NoError(t, err)
	require.NoError(t, j.msg.Nak())

	attempts := make(chan int, 1)
	pool, err := consumer.New(e.js, consumer.Options{Queue: queue, Logger: slog.New(slog.DiscardHandler), Handler: jetpool.HandlerFunc(func(_ context.Context, job *jetpool.Job) error {
		attempts <- job.Attempt
		return nil
	})})
	require.NoError(t, err)
	require.NoError(t, pool.Start(e.ctx))
	defer func() { assert.NoError(t, pool.Stop(context.Background())) }()
	select {
	case n := <-attempts:
		assert.Equal(t, 1, n, "the second delivery is the first attempt")
	case <-e.ctx.Done():
		t.Fatal("jetpool's worker never ran the returned job")
	}
	e.awaitReport(t, batch, func(r report) bool { return r.Done && r.Completed == 1 })
	for {
		_, err := kv.Get(e.ctx, returnKey(j))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			break
		}
		require.NoError(t, err)
		require.NoError(t, e.ctx.Err(), "the return count outlived the job")
		time.Sleep(10 * time.Millisecond)
	}
}
