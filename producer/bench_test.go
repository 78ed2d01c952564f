package producer_test

import (
	"context"
	"github.com/jetpool/jetpool/batch"
	"github.com/jetpool/jetpool/topology"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/producer"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

const benchBatch = 1000

// benchItems is the i-th batch of a benchmark.
func benchItems(i int, payload []byte) []producer.Item {
	its := make([]producer.Item, benchBatch)
	for j := range its {
		its[j] = producer.Item{ID: strconv.Itoa(i) + "-" + strconv.Itoa(j), Payload: payload}
	}
	return its
}

// BenchmarkEnqueueBatch measures batch publishing: jobs/s is the figure.
func BenchmarkEnqueueBatch(b *testing.B) {
	_, p := setup(b, topology.Options{}, "bench")
	payload := make([]byte, 128)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		its := benchItems(i, payload)
		if _, err := p.EnqueueBatch(ctx, "bench", its); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkEndToEnd enqueues a batch, runs it through a no-op pool and waits
// for it: enqueue, delivery, ack and the join.
func BenchmarkEndToEnd(b *testing.B) {
	env, p := setup(b, topology.Options{}, "bench")
	pool, err := consumer.New(env.JS, consumer.Options{Queue: "bench", Concurrency: 64, Logger: env.Log, Handler: jetpool.HandlerFunc(func(context.Context, *jetpool.Job) error { return nil })})
	require.NoError(b, err)
	require.NoError(b, pool.Start(context.Background()))
	defer pool.Stop(context.Background())
	payload := make([]byte, 128)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		its := benchItems(i, payload)
		enq, err := p.EnqueueBatch(ctx, "bench", its)
		if err != nil {
			b.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		if _, err := enq.Wait(wctx, batch.WithPolling(time.Millisecond, 20*time.Millisecond)); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "jobs/s")
}

// benchBig is the size of one batch in the publish comparisons.
const benchBig = 50000

// BenchmarkPublishRaw is the baseline for BenchmarkEnqueueBatchLarge: a
// bare JetStream async publish of the same jobs with their Nats-Msg-Id, the
// nats.go default window, waiting for every acknowledgement.
func BenchmarkPublishRaw(b *testing.B) {
	env, _ := setup(b, topology.Options{}, "bench")
	payload := make([]byte, 128)
	subject := jetpool.DefaultNames().JobSubject("bench", "raw")
	b.ResetTimer()
	for i := range b.N {
		for j := range benchBig {
			msg := nats.NewMsg(subject)
			msg.Data = payload
			msg.Header.Set(jetstream.MsgIDHeader, strconv.Itoa(i)+"-"+strconv.Itoa(j))
			if _, err := env.JS.PublishMsgAsync(msg); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-env.JS.PublishAsyncComplete():
		case <-time.After(time.Minute):
			b.Fatal("acknowledgements missing")
		}
	}
	b.ReportMetric(float64(b.N*benchBig)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkEnqueueBatchLarge publishes the same jobs as BenchmarkPublishRaw
// through EnqueueBatch, manifest and all.
func BenchmarkEnqueueBatchLarge(b *testing.B) {
	_, p := setup(b, topology.Options{}, "bench")
	payload := make([]byte, 128)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		its := make([]producer.Item, benchBig)
		for j := range its {
			its[j] = producer.Item{ID: strconv.Itoa(i) + "-" + strconv.Itoa(j), Payload: payload}
		}
		b.StartTimer()
		if _, err := p.EnqueueBatch(ctx, "bench", its); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBig)/b.Elapsed().Seconds(), "jobs/s")
}

// enqueueSenders is how many goroutines BenchmarkEnqueue publishes from,
// each waiting for one acknowledgement at a time.
const enqueueSenders = 64

// BenchmarkEnqueue measures single jobs, each published and acknowledged
// before its goroutine sends the next, from enqueueSenders goroutines: one
// op is one job. Its baselines are raw synchronous publishes of the same
// jobs, to one subject and to a subject per job, which is how Enqueue
// publishes a job without a batch (a batch of its own).
func BenchmarkEnqueue(b *testing.B) {
	names := jetpool.DefaultNames()
	payload := make([]byte, 128)
	cases := []struct {
		name string
		send func(ctx context.Context, env *natstest.Env, p *producer.Producer, id string) error
	}{
		{"raw", func(ctx context.Context, env *natstest.Env, _ *producer.Producer, id string) error {
			return rawPublish(ctx, env.JS, names.JobSubject("bench", "raw"), id, payload)
		}},
		{"raw-subject-per-job", func(ctx context.Context, env *natstest.Env, _ *producer.Producer, id string) error {
			return rawPublish(ctx, env.JS, names.JobSubject("bench", id), id, payload)
		}},
		{"jetpool", func(ctx context.Context, _ *natstest.Env, p *producer.Producer, id string) error {
			_, err := p.Enqueue(ctx, "bench", payload, producer.WithID(id))
			return err
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			env, p := setup(b, topology.Options{}, "bench")
			ctx := context.Background()
			var next atomic.Int64
			b.SetParallelism(max(1, enqueueSenders/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.send(ctx, env, p, "j"+strconv.FormatInt(next.Add(1), 10)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}

// rawPublish publishes one job and waits for its acknowledgement, as a
// bare JetStream client does.
func rawPublish(ctx context.Context, js jetstream.JetStream, subject, id string, payload []byte) error {
	msg := nats.NewMsg(subject)
	msg.Data = payload
	msg.Header.Set(jetstream.MsgIDHeader, id)
	_, err := js.PublishMsg(ctx, msg)
	return err
}
