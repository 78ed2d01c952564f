package jetpooltest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/jetpooltest"
	"github.com/jetpool/jetpool/producer"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newProducer(t *testing.T, js jetstream.JetStream) *producer.Producer {
	t.Helper()
	p, err := producer.New(js, producer.Options{})
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

// Enqueued lists what a producer stored, by queue and by batch, with IDs,
// payloads and headers.
func TestEnqueuedListsTheWaitingJobs(t *testing.T) {
	t.Parallel()
	js := jetpooltest.StartBroker(t, "emails", "sms")
	p := newProducer(t, js)
	ctx := context.Background()
	assert.Empty(t, jetpooltest.Enqueued(t, js, "emails"))
	for i := range 3 {
		_, err := p.Enqueue(ctx, "emails", fmt.Appendf(nil, "mail-%d", i), producer.WithID(fmt.Sprintf("e%d", i)),
			producer.WithBatch("b1"), producer.WithHeaders(map[string][]string{"X-Tenant": {"acme"}}))
		require.NoError(t, err)
	}
	_, err := p.Enqueue(ctx, "sms", []byte("text"), producer.WithID("s0"), producer.WithBatch("b1"))
	require.NoError(t, err)
	_, err = p.Enqueue(ctx, "sms", []byte("other"), producer.WithID("s1"), producer.WithBatch("b2"))
	require.NoError(t, err)

	jobs := jetpooltest.Enqueued(t, js, "emails")
	require.Len(t, jobs, 3)
	for i, j := range jobs {
		assert.Equal(t, fmt.Sprintf("e%d", i), j.ID)
		assert.Equal(t, "emails", j.Queue)
		assert.Equal(t, "b1", j.Batch)
		assert.Equal(t, fmt.Sprintf("mail-%d", i), string(j.Payload))
		assert.Equal(t, "acme", j.Headers.Get("X-Tenant"))
	}
	var ids []string
	for _, j := range jetpooltest.EnqueuedInBatch(t, js, "b1") {
		ids = append(ids, j.Queue+"/"+j.ID)
	}
	assert.Equal(t, []string{"emails/e0", "emails/e1", "emails/e2", "sms/s0"}, ids)
}

// Work runs a batch to done through a real pool, retries and dead jobs
// included, and the jobs a pool forwards carry the IDs RunJob predicts.
func TestWorkRunsABatchToDone(t *testing.T) {
	t.Parallel()
	js := jetpooltest.StartBroker(t, "images", "thumbs")
	p := newProducer(t, js)
	items := make([]producer.Item, 10)
	for i := range items {
		items[i] = producer.Item{ID: fmt.Sprintf("img-%d", i), Payload: fmt.Appendf(nil, "%d", i)}
	}
	b, err := p.EnqueueBatch(context.Background(), "images", items, producer.WithBatch("b1"))
	require.NoError(t, err)

	var mu sync.Mutex
	runs := map[string]int{}
	h := jetpool.HandlerFunc(func(ctx context.Context, job *jetpool.Job) error {
		mu.Lock()
		runs[job.ID]++
		n := runs[job.ID]
		mu.Unlock()
		switch job.ID {
		case "img-0":
			return jetpool.Permanent(fmt.Errorf("corrupt image"))
		case "img-1":
			if n == 1 {
				return fmt.Errorf("flaky")
			}
		case "img-2":
			_, err := job.Forward(ctx, "thumbs", job.Payload, nil)
			return err
		}
		return nil
	})
	thumbs := make(chan string, 10) // room for a redelivery
	thumb := jetpool.HandlerFunc(func(_ context.Context, job *jetpool.Job) error {
		thumbs <- job.ID
		return nil
	})
	r := jetpooltest.Work(t, js, "images", b.ID, h, jetpooltest.WorkOptions{Stages: map[string]jetpool.Handler{"thumbs": thumb}})
	assert.True(t, r.Done)
	assert.Equal(t, 10, r.Expected)
	assert.Equal(t, 1, r.Dead)
	mu.Lock()
	assert.Len(t, runs, 10)
	assert.Equal(t, 2, runs["img-1"], "retried once")
	mu.Unlock()

	// The pool forwarded the job under the ID RunJob predicts.
	want := jetpooltest.RunJob(t, h, []byte("2"), jetpooltest.JobOptions{ID: "img-2", Batch: "b1"}).Forwarded
	require.Len(t, want, 1)
	assert.Equal(t, want[0].ID, <-thumbs)
	assert.Empty(t, jetpooltest.EnqueuedInBatch(t, js, "b1"))
}
