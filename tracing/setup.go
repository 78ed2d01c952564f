package tracing

import (
	"context"
	"os"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Configured reports whether the environment asks for traces, as Setup
// reads it (nil getenv reads the process environment). When it does not,
// leave [Middleware] out: its spans would go nowhere, and it costs each job
// a header parse and a span.
func Configured(getenv func(string) string) bool {
	if getenv == nil {
		getenv = os.Getenv
	}
	if e := getenv("OTEL_TRACES_EXPORTER"); e != "" && e != "otlp" {
		return false
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup installs a global TracerProvider that exports spans over OTLP/HTTP
// when the standard environment asks for it (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set, and OTEL_TRACES_EXPORTER unset or
// "otlp"; OTEL_SERVICE_NAME and the other OTEL_* variables apply as the
// OpenTelemetry SDK reads them). Otherwise tracing stays off. The returned
// function flushes and stops the exporter.
func Setup(ctx context.Context, getenv func(string) string) (shutdown func(context.Context) error, err error) {
	off := func(context.Context) error { return nil }
	if !Configured(getenv) {
		return off, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return off, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return tp.Shutdown, nil
}
