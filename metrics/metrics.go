// Package metrics exposes what jetpool's worker pools, producers and
// managers do as Prometheus metrics on a private registry, and serves them
// with /healthz and /readyz on one listener.
//
// Counters are read from the pools' and producers' own statistics at scrape
// time; queue depths come from a snapshot of the streams refreshed in the
// background, never fetched per scrape.
package metrics

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/consumer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics is one process's set of jetpool metrics and readiness checks.
type Metrics struct {
	reg *prometheus.Registry

	handlerSeconds *prometheus.HistogramVec
	inFlight       *prometheus.GaugeVec
	cycleSeconds   *prometheus.HistogramVec
	depth          *prometheus.GaugeVec
	dead           *prometheus.GaugeVec

	mu     sync.Mutex
	checks []check
	pools  *poolCollector // registered with the first WatchPool
}

type check struct {
	name string
	fn   func(context.Context) error
}

// New returns metrics on a fresh private registry, with the Go runtime and
// process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		handlerSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jetpool_handler_duration_seconds",
			Help:    "Time a handler took per job attempt.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"queue", "outcome"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jetpool_jobs_in_flight",
			Help: "Jobs whose handler is running now.",
		}, []string{"queue"}),
		cycleSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jetpool_batch_duration_seconds",
			Help:    "Time from a manager cycle's start until its batch was done.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}, []string{"queue"}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jetpool_queue_depth",
			Help: "Jobs in the work stream per queue, waiting or running (refreshed periodically).",
		}, []string{"queue"}),
		dead: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jetpool_dead_jobs",
			Help: "Jobs in the dead-letter stream per queue (refreshed periodically).",
		}, []string{"queue"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.handlerSeconds, m.inFlight, m.cycleSeconds, m.depth, m.dead,
	)
	return m
}

// Registry is the private registry, for callers that add their own metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Middleware times every handler run of queue and counts the runs in
// flight. Put it first in the pool's handler chain.
func (m *Metrics) Middleware(queue string) jetpool.Middleware {
	inFlight := m.inFlight.WithLabelValues(queue)
	ok := m.handlerSeconds.WithLabelValues(queue, "ok")
	failed := m.handlerSeconds.WithLabelValues(queue, "error")
	return func(next jetpool.Handler) jetpool.Handler {
		return jetpool.HandlerFunc(func(ctx context.Context, job *jetpool.Job) error {
			inFlight.Inc()
			start := time.Now()
			err := next.Handle(ctx, job)
			if err != nil {
				failed.Observe(time.Since(start).Seconds())
			} else {
				ok.Observe(time.Since(start).Seconds())
			}
			inFlight.Dec()
			return err
		})
	}
}

// WatchPool exposes a pool's counters, read at each scrape. A process
// serving several queues watches each queue's pool.
func (m *Metrics) WatchPool(queue string, stats func() consumer.Stats) {
	m.mu.Lock()
	if m.pools == nil {
		m.pools = &poolCollector{}
		m.reg.MustRegister(m.pools)
	}
	pools := m.pools
	m.mu.Unlock()
	pools.add(queue, stats)
}

// ProducerStats is what [Metrics.WatchProducer] reads of a producer; a
// producer.Stats converts to it.
type ProducerStats struct {
	Enqueued, Repeated, Failed, MayRepeat, Batches uint64
}

// WatchProducer exposes a producer's counters, read at each scrape.
func (m *Metrics) WatchProducer(stats func() ProducerStats) {
	m.reg.MustRegister(&producerCollector{stats: stats})
}

// ManagerStats is what [Metrics.WatchManager] reads of a manager; a
// manager.Stats converts to it.
type ManagerStats struct {
	Cycles, Overruns, SourceErrors, EnqueueErrors uint64
	Leader                                        bool
}

// WatchManager exposes a manager's counters and leadership, read at each
// scrape.
func (m *Metrics) WatchManager(name, queue string, stats func() ManagerStats) {
	m.reg.MustRegister(&managerCollector{name: name, queue: queue, stats: stats})
}

// ObserveCycle records how long a manager cycle took; call it from
// manager.Options.OnCycle.
func (m *Metrics) ObserveCycle(queue string, took time.Duration) {
	m.cycleSeconds.WithLabelValues(queue).Observe(took.Seconds())
}

// setDepths replaces the queue depth and dead-letter gauges.
func (m *Metrics) setDepths(depth, dead map[string]int) {
	m.depth.Reset()
	m.dead.Reset()
	for _, q := range sortedKeys(depth) {
		m.depth.WithLabelValues(q).Set(float64(depth[q]))
	}
	for _, q := range sortedKeys(dead) {
		m.dead.WithLabelValues(q).Set(float64(dead[q]))
	}
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
