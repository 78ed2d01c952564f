package cli

import (
	"context"
	"sync"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/metrics"
	"github.com/jetpool/jetpool/registry"
	"github.com/jetpool/jetpool/tracing"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// depthRefresh is how often a served process refreshes its queue depth
// gauges from the streams.
const depthRefresh = 10 * time.Second

// observer is what a long-running command exposes: Prometheus metrics and
// health on --metrics, traces when OTEL_* asks, and, for workers, an entry
// in the worker registry.
type observer struct {
	a       *app
	metrics *metrics.Metrics
	server  *metrics.Server
	js      jetstream.JetStream
	names   jetpool.Names

	cancel   context.CancelFunc
	ctx      context.Context
	wg       sync.WaitGroup
	traceEnd func(context.Context) error
	traced   bool // OTEL_* asks for traces: jobs run in spans
}

// observe starts tracing (when configured) and, when addr is set, serves
// metrics, /healthz and /readyz there until close.
func (a *app) observe(ctx context.Context, addr string, nc *nats.Conn, js jetstream.JetStream, names jetpool.Names) (*observer, error) {
	traceEnd, err := tracing.Setup(ctx, a.getenv)
	if err != nil {
		a.log.Warn("tracing not started", "error", err)
	}
	o := &observer{a: a, metrics: metrics.New(), js: js, names: names, traceEnd: traceEnd,
		traced: err == nil && tracing.Configured(a.getenv)}
	o.ctx, o.cancel = context.WithCancel(context.WithoutCancel(ctx))
	o.metrics.AddReadiness("nats", metrics.Connected(nc))
	o.metrics.AddReadiness("topology", metrics.StreamFound(js, names))
	if addr != "" {
		if o.server, err = metrics.Serve(addr, o.metrics.Handler()); err != nil {
			o.cancel()
			return nil, exitWith(ExitUsage, err)
		}
		a.log.Info("serving metrics", "url", "http://"+o.server.Addr()+"/metrics")
		o.wg.Add(1)
		go func() { defer o.wg.Done(); o.metrics.WatchQueues(o.ctx, js, names, depthRefresh, a.log) }()
	}
	return o, nil
}

// announce lists this worker process in the registry until close. A
// registry that cannot be reached costs a warning, never the work.
func (o *observer) announce(queue string, concurrency int, running, held func() int, jobs func() []string, completed func() uint64) {
	w := registry.Worker{Queue: queue, Concurrency: concurrency, Version: version()}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		var ann *registry.Announcer
		for {
			var err error
			actx, cancel := context.WithTimeout(o.ctx, 5*time.Second)
			ann, err = registry.NewAnnouncer(actx, o.js, o.names, w, running, o.a.log)
			cancel()
			if err == nil {
				break
			}
			o.a.log.Warn("worker registry unavailable; this process is not listed by status", "error", err)
			select {
			case <-o.ctx.Done():
				return
			case <-time.After(30 * time.Second):
			}
		}
		ann.CountCompleted(completed)
		ann.ListJobs(jobs)
		ann.CountHeld(held)
		ann.Run(o.ctx)
	}()
}

// close stops serving and announcing, and flushes traces.
func (o *observer) close() {
	o.cancel()
	o.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if o.server != nil {
		if err := o.server.Shutdown(ctx); err != nil {
			o.a.log.Warn("metrics server shutdown", "error", err)
		}
	}
	if o.traceEnd != nil {
		if err := o.traceEnd(ctx); err != nil {
			o.a.log.Warn("traces not flushed", "error", err)
		}
	}
}

// middleware is what every job of queue runs in: metrics, and a span when
// tracing is on.
func (o *observer) middleware(queue string) []jetpool.Middleware {
	mw := []jetpool.Middleware{o.metrics.Middleware(queue)}
	if o.traced {
		mw = append(mw, tracing.Middleware(queue))
	}
	return mw
}
