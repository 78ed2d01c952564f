// Package tracing carries OpenTelemetry traces through jetpool: producers
// put the W3C trace context of the caller's span into each job's headers,
// and workers run every handler attempt in a span that continues it, so a
// trace follows a job across processes and pipeline stages.
//
// It uses the global TracerProvider, which records nothing until the
// program installs one; the jetpool command does so from the standard
// OTEL_* environment variables (see [Setup]).
package tracing

import (
	"context"
	"strconv"

	"github.com/jetpool/jetpool"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// instrumentation names jetpool's tracer.
const instrumentation = "github.com/jetpool/jetpool"

// w3c propagates the W3C trace context, whatever global propagator is set.
var w3c = propagation.TraceContext{}

// Inject adds the W3C trace context of ctx's span to h; it does nothing
// when ctx carries no span.
func Inject(ctx context.Context, h nats.Header) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	w3c.Inject(ctx, propagation.HeaderCarrier(h))
}

// Extract returns ctx with the remote span context found in h, if any.
func Extract(ctx context.Context, h nats.Header) context.Context {
	return w3c.Extract(ctx, propagation.HeaderCarrier(h))
}

// Middleware runs each attempt of a job of queue in a consumer span that
// continues the trace in the job's headers, with the job's ID, batch and
// attempt as attributes, and makes the job's forwards continue this span.
func Middleware(queue string) jetpool.Middleware {
	return func(next jetpool.Handler) jetpool.Handler {
		return jetpool.HandlerFunc(func(ctx context.Context, job *jetpool.Job) error {
			ctx = Extract(ctx, job.Headers)
			ctx, span := otel.Tracer(instrumentation).Start(ctx, "jetpool.handle "+queue,
				trace.WithSpanKind(trace.SpanKindConsumer),
				trace.WithAttributes(
					attribute.String("messaging.system", "nats"),
					attribute.String("messaging.destination.name", queue),
					attribute.String("messaging.message.id", job.ID),
					attribute.String("jetpool.batch", job.Batch),
					attribute.String("jetpool.attempt", strconv.Itoa(job.Attempt)),
				))
			defer span.End()
			traced := job.WithForwarder(func(ctx context.Context, q string, payload []byte, headers nats.Header) (string, error) {
				h := nats.Header{}
				for k, v := range headers {
					h[k] = v
				}
				Inject(ctx, h)
				return job.Forward(ctx, q, payload, h)
			})
			err := next.Handle(ctx, traced)
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			return err
		})
	}
}
