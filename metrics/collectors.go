package metrics

import (
	"sync"

	"github.com/jetpool/jetpool/consumer"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	completedDesc = prometheus.NewDesc("jetpool_jobs_completed_total", "Jobs acknowledged after their handler succeeded.", []string{"queue"}, nil)
	retriedDesc   = prometheus.NewDesc("jetpool_jobs_retried_total", "Failed attempts that were scheduled for another try.", []string{"queue"}, nil)
	failedDesc    = prometheus.NewDesc("jetpool_jobs_failed_total", "Failed attempts, retried or dead-lettered.", []string{"queue"}, nil)
	deadDesc      = prometheus.NewDesc("jetpool_jobs_dead_total", "Jobs moved to the dead-letter stream.", []string{"queue"}, nil)
	panicsDesc    = prometheus.NewDesc("jetpool_handler_panics_total", "Handler panics, each also counted as a retried or dead job.", []string{"queue"}, nil)
	releasedDesc  = prometheus.NewDesc("jetpool_jobs_released_total", "Jobs returned to the queue unstarted at shutdown.", []string{"queue"}, nil)
	forwardedDesc = prometheus.NewDesc("jetpool_jobs_forwarded_total", "Jobs forwarded to another queue.", []string{"queue"}, nil)
	ackErrDesc    = prometheus.NewDesc("jetpool_ack_errors_total", "Acks, naks, terms and dead-letter writes the server did not take.", []string{"queue"}, nil)

	enqueuedDesc  = prometheus.NewDesc("jetpool_enqueued_jobs_total", "Jobs JetStream stored for this producer.", nil, nil)
	repeatedDesc  = prometheus.NewDesc("jetpool_enqueue_repeated_total", "Jobs already part of their batch, not stored again.", nil, nil)
	enqErrDesc    = prometheus.NewDesc("jetpool_enqueue_errors_total", "Jobs JetStream did not acknowledge.", nil, nil)
	mayRepeatDesc = prometheus.NewDesc("jetpool_enqueue_may_repeat_total", "Jobs published again that may run twice.", nil, nil)
	cyclesDesc    = prometheus.NewDesc("jetpool_manager_cycles_total", "Cycles a manager ran while leading.", []string{"manager", "queue"}, nil)
	overrunsDesc  = prometheus.NewDesc("jetpool_manager_overruns_total", "Cycles that outlasted their interval.", []string{"manager", "queue"}, nil)
	srcErrDesc    = prometheus.NewDesc("jetpool_manager_source_errors_total", "Cycles whose source failed.", []string{"manager", "queue"}, nil)
	cycleErrDesc  = prometheus.NewDesc("jetpool_manager_enqueue_errors_total", "Cycles whose jobs were not all enqueued.", []string{"manager", "queue"}, nil)
	leaderDesc    = prometheus.NewDesc("jetpool_manager_leader", "1 while this process leads the manager, else 0.", []string{"manager", "queue"}, nil)
)

// poolCollector reads the counters of every pool watched, one queue each:
// one collector for all, as the registry takes each descriptor once.
type poolCollector struct {
	mu    sync.Mutex
	pools []watchedPool
}

type watchedPool struct {
	queue string
	stats func() consumer.Stats
}

func (c *poolCollector) add(queue string, stats func() consumer.Stats) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pools = append(c.pools, watchedPool{queue, stats})
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{completedDesc, retriedDesc, failedDesc, deadDesc, panicsDesc, releasedDesc, forwardedDesc, ackErrDesc} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	pools := append([]watchedPool(nil), c.pools...)
	c.mu.Unlock()
	for _, p := range pools {
		s := p.stats()
		counter := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), p.queue)
		}
		counter(completedDesc, s.Completed)
		counter(retriedDesc, s.Retried)
		counter(failedDesc, s.Retried+s.Dead)
		counter(deadDesc, s.Dead)
		counter(panicsDesc, s.Panics)
		counter(releasedDesc, s.Released)
		counter(forwardedDesc, s.Forwarded)
		counter(ackErrDesc, s.AckErrors)
	}
}

type producerCollector struct {
	stats func() ProducerStats
}

func (c *producerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- enqueuedDesc
	ch <- repeatedDesc
	ch <- enqErrDesc
	ch <- mayRepeatDesc
}

func (c *producerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	ch <- prometheus.MustNewConstMetric(enqueuedDesc, prometheus.CounterValue, float64(s.Enqueued))
	ch <- prometheus.MustNewConstMetric(repeatedDesc, prometheus.CounterValue, float64(s.Repeated))
	ch <- prometheus.MustNewConstMetric(enqErrDesc, prometheus.CounterValue, float64(s.Failed))
	ch <- prometheus.MustNewConstMetric(mayRepeatDesc, prometheus.CounterValue, float64(s.MayRepeat))
}

type managerCollector struct {
	name, queue string
	stats       func() ManagerStats
}

func (c *managerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cyclesDesc, overrunsDesc, srcErrDesc, cycleErrDesc, leaderDesc} {
		ch <- d
	}
}

func (c *managerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), c.name, c.queue)
	}
	counter(cyclesDesc, s.Cycles)
	counter(overrunsDesc, s.Overruns)
	counter(srcErrDesc, s.SourceErrors)
	counter(cycleErrDesc, s.EnqueueErrors)
	leader := 0.0
	if s.Leader {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(leaderDesc, prometheus.GaugeValue, leader, c.name, c.queue)
}
