package tracing_test

import (
	"context"
	"github.com/jetpool/jetpool/topology"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/producer"
	"github.com/jetpool/jetpool/tracing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A trace started by the producer's caller continues through both stages
// of a pipeline: enqueue span → stage 1 handler → stage 2 handler.
func TestTraceFollowsAJobThroughAPipeline(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev); _ = tp.Shutdown(context.Background()) })

	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{}, "one", "two"))
	pool := func(queue string, h jetpool.HandlerFunc) {
		p, err := consumer.New(env.JS, consumer.Options{Queue: queue, Concurrency: 2, Logger: env.Log, Handler: jetpool.Chain(h, tracing.Middleware(queue))})
		require.NoError(t, err)
		require.NoError(t, p.Start(ctx))
		t.Cleanup(func() { _ = p.Stop(context.Background()) })
	}
	pool("one", func(ctx context.Context, j *jetpool.Job) error {
		_, err := j.Forward(ctx, "two", j.Payload, nil)
		return err
	})
	pool("two", func(context.Context, *jetpool.Job) error { return nil })

	p, err := producer.New(env.JS, producer.Options{Logger: env.Log})
	require.NoError(t, err)
	sctx, root := tp.Tracer("test").Start(ctx, "enqueue")
	_, err = p.EnqueueBatch(sctx, "one", []producer.Item{{ID: "j1", Payload: []byte("x")}}, producer.WithBatch("traced"))
	root.End()
	require.NoError(t, err)
	r, err := p.Wait(ctx, "traced")
	require.NoError(t, err)
	require.True(t, r.Done, "both stages ran")

	natstest.Eventually(t, 10*time.Second, func() bool { return len(exp.GetSpans()) == 3 }, "three spans")
	byName := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		byName[s.Name] = s
	}
	one, two := byName["jetpool.handle one"], byName["jetpool.handle two"]
	require.True(t, one.SpanContext.IsValid())
	require.True(t, two.SpanContext.IsValid())
	assert.Equal(t, root.SpanContext().TraceID(), one.SpanContext.TraceID(), "one trace")
	assert.Equal(t, root.SpanContext().TraceID(), two.SpanContext.TraceID(), "one trace")
	assert.Equal(t, root.SpanContext().SpanID(), one.Parent.SpanID(), "stage 1 continues the enqueue span")
	assert.Equal(t, one.SpanContext.SpanID(), two.Parent.SpanID(), "stage 2 continues stage 1")
}

// Without a span in the caller's context, jobs carry no trace header.
func TestNoSpanNoHeader(t *testing.T) {
	h := map[string][]string{}
	tracing.Inject(context.Background(), h)
	assert.Empty(t, h)
}
