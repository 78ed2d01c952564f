package consumer_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/jetpool/jetpool/topology"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// The benchmarks compare the pool with a raw JetStream consumer on the same
// embedded broker (file storage), one sub-benchmark beside the other so that
// a noisy machine affects both alike: read the ratio of their jobs/s.
//
//	go test -run x -bench . -benchmem ./consumer/

const (
	benchQueue   = "bench"
	benchPayload = 128
	// rawPulls and rawPullSize shape the raw baseline: 4 pull subscriptions
	// of 1,000 messages each, every message acked.
	rawPulls    = 4
	rawPullSize = 1000
)

// benchEnv is a broker with the bench queue provisioned, a connection for
// the consumer under test and another for the publisher.
type benchEnv struct {
	*natstest.Env
	pub jetstream.JetStream
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	env := natstest.Start(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := topology.Provision(ctx, env.JS, topology.Options{}, benchQueue); err != nil {
		b.Fatal(err)
	}
	_, pub := natstest.Connect(b, env.Server.ClientURL())
	return &benchEnv{Env: env, pub: pub}
}

// publish enqueues n jobs as jetpool's producer does (the job ID as
// Nats-Msg-Id), asynchronously, and waits for every acknowledgement.
func (e *benchEnv) publish(b *testing.B, from, n, size int) {
	b.Helper()
	subject := names.JobSubject(benchQueue, "b")
	for i := from; i < from+n; i++ {
		e.publishOne(b, subject, i, make([]byte, size))
	}
	e.waitPublished(b)
}

func (e *benchEnv) publishOne(b *testing.B, subject string, i int, payload []byte) {
	msg := nats.NewMsg(subject)
	msg.Data = payload
	msg.Header[jetpool.HeaderMsgID] = []string{strconv.Itoa(i)}
	// A long stall wait: on a busy machine the publisher waits for the
	// broker instead of failing the run.
	if _, err := e.pub.PublishMsgAsync(msg, jetstream.WithStallWait(time.Minute)); err != nil {
		b.Fatal(err)
	}
}

func (e *benchEnv) waitPublished(b *testing.B) {
	select {
	case <-e.pub.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("publish acknowledgements missing")
	}
}

// countdown closes done once it has ticked n times.
type countdown struct {
	left atomic.Int64
	done chan struct{}
}

func newCountdown(n int) *countdown {
	c := &countdown{done: make(chan struct{})}
	c.left.Store(int64(n))
	return c
}

func (c *countdown) tick() {
	if c.left.Add(-1) == 0 {
		close(c.done)
	}
}

func (c *countdown) wait(b *testing.B, what func() string) {
	select {
	case <-c.done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("%d jobs left: %s", c.left.Load(), what())
	}
}

// consumerUnderTest starts consuming the bench queue, calling onJob at the
// start of every job, and returns a function that stops it.
type consumerUnderTest func(b *testing.B, e *benchEnv, onJob func(payload []byte)) (stop func())

// rawConsumer is the baseline: rawPulls Messages() iterators pulling
// rawPullSize each, every message acked once onJob returns.
func rawConsumer(b *testing.B, e *benchEnv, onJob func([]byte)) func() {
	ctx := context.Background()
	cons, err := e.JS.Consumer(ctx, names.WorkStream(), names.ConsumerName(benchQueue))
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	its := make([]jetstream.MessagesContext, rawPulls)
	for i := range its {
		its[i], err = cons.Messages(jetstream.PullMaxMessages(rawPullSize))
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			for {
				msg, err := its[i].Next()
				if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					return
				}
				if err != nil {
					continue
				}
				onJob(msg.Data())
				if err := msg.Ack(); err != nil {
					b.Error(err)
				}
			}
		})
	}
	return func() {
		for _, it := range its {
			it.Stop()
		}
		wg.Wait()
	}
}

// poolConsumer runs a jetpool worker pool of the given concurrency with a
// no-op handler.
func poolConsumer(concurrency int) consumerUnderTest {
	return func(b *testing.B, e *benchEnv, onJob func([]byte)) func() {
		p, err := consumer.New(e.JS, consumer.Options{Queue: benchQueue, Concurrency: concurrency, Logger: slog.New(slog.DiscardHandler), Handler: jetpool.HandlerFunc(func(_ context.Context, j *jetpool.Job) error {
			onJob(j.Payload)
			return nil
		})})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		return func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := p.Stop(ctx); err != nil {
				b.Error(err)
			}
		}
	}
}

// benchCase is a consumer under test and its sub-benchmark name.
type benchCase struct {
	name string
	run  consumerUnderTest
}

// consumers lists, for concurrency 8, 64 and 256, the raw baseline and then
// the pool, so that each pool figure has its baseline measured just before.
func consumers() []benchCase {
	var out []benchCase
	for _, c := range []int{8, 64, 256} {
		out = append(out,
			benchCase{fmt.Sprintf("c=%d/raw", c), rawConsumer},
			benchCase{fmt.Sprintf("c=%d/jetpool", c), poolConsumer(c)})
	}
	return out
}

// ackState describes the bench consumer for a failure message.
func (e *benchEnv) ackState() string {
	c, err := e.JS.Consumer(context.Background(), names.WorkStream(), names.ConsumerName(benchQueue))
	if err != nil {
		return err.Error()
	}
	i, err := c.Info(context.Background())
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("pending %d, ack pending %d, waiting %d, redelivered %d", i.NumPending, i.NumAckPending, i.NumWaiting, i.NumRedelivered)
}

// waitAcked waits until the server has every job acknowledged, so a
// consumer's figure includes its acks.
func (e *benchEnv) waitAcked(b *testing.B) {
	ctx := context.Background()
	s, err := e.JS.Stream(ctx, names.WorkStream())
	if err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; {
		info, err := s.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if info.State.Msgs == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d jobs not acknowledged: %s", info.State.Msgs, e.ackState())
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkDispatch measures consuming jobs already queued: delivery, the
// hand-off to a worker, the no-op handler and the ack. One op is one job.
func BenchmarkDispatch(b *testing.B) {
	for _, c := range consumers() {
		b.Run(c.name, func(b *testing.B) {
			e := newBenchEnv(b)
			e.publish(b, 0, b.N, benchPayload)
			cd := newCountdown(b.N)
			b.ResetTimer()
			stop := c.run(b, e, func([]byte) { cd.tick() })
			cd.wait(b, e.ackState)
			e.waitAcked(b)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
			stop()
		})
	}
}

// BenchmarkEndToEnd measures publishing and consuming at once: the same
// asynchronous publisher feeds the raw consumer and the pool. One op is one
// job, from its publish to its ack.
func BenchmarkEndToEnd(b *testing.B) {
	for _, c := range consumers() {
		b.Run(c.name, func(b *testing.B) {
			e := newBenchEnv(b)
			cd := newCountdown(b.N)
			stop := c.run(b, e, func([]byte) { cd.tick() })
			defer stop()
			b.ResetTimer()
			e.publish(b, 0, b.N, benchPayload)
			cd.wait(b, e.ackState)
			e.waitAcked(b)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}

// latencyRate is the publish rate of BenchmarkLatency: about half of what
// the pool sustains end to end at concurrency 64 on a two-core machine.
const latencyRate = 15000

// BenchmarkLatency publishes at a fixed rate (latencyRate jobs/s) and
// reports the time from each publish to the start of its job, p50 and p99,
// for the raw consumer and the pool at concurrency 64.
func BenchmarkLatency(b *testing.B) {
	for _, c := range []benchCase{{"raw", rawConsumer}, {"jetpool", poolConsumer(64)}} {
		b.Run(c.name, func(b *testing.B) {
			e := newBenchEnv(b)
			lat := make([]time.Duration, b.N)
			var seen atomic.Int64
			cd := newCountdown(b.N)
			stop := c.run(b, e, func(p []byte) {
				sent := time.Unix(0, int64(binary.BigEndian.Uint64(p)))
				if i := seen.Add(1) - 1; int(i) < len(lat) {
					lat[i] = time.Since(sent)
				}
				cd.tick()
			})
			defer stop()
			subject := names.JobSubject(benchQueue, "b")
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; {
				due := int(time.Since(start).Seconds() * latencyRate)
				for ; i < b.N && i <= due; i++ {
					p := make([]byte, benchPayload)
					binary.BigEndian.PutUint64(p, uint64(time.Now().UnixNano()))
					e.publishOne(b, subject, i, p)
				}
				time.Sleep(200 * time.Microsecond)
			}
			e.waitPublished(b)
			cd.wait(b, e.ackState)
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// rssJobs is how many 4 KiB jobs the worker process of BenchmarkWorkerRSS
// runs per op.
const rssJobs = 20000

// BenchmarkWorkerRSS runs a worker process (this test binary, as
// TestWorkerProcess) at concurrency 256 through queued 4 KiB jobs and
// reports its peak resident set size.
func BenchmarkWorkerRSS(b *testing.B) {
	e := newBenchEnv(b)
	var peak int
	for i := range b.N {
		b.StopTimer()
		e.publish(b, i*rssJobs, rssJobs, 4096)
		b.StartTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestWorkerProcess$", "-test.v")
		cmd.Env = append(os.Environ(), "JETPOOL_BENCH_WORKER_URL="+e.Server.ClientURL(), "JETPOOL_BENCH_WORKER_JOBS="+strconv.Itoa(rssJobs))
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			b.Fatalf("worker process: %v\n%s", err, out)
		}
		var kib int
		for line := range strings.Lines(string(out)) {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "peak-rss-kib "); ok {
				kib, _ = strconv.Atoi(rest)
			}
		}
		if kib == 0 {
			b.Fatalf("worker process did not report its RSS:\n%s", out)
		}
		peak = max(peak, kib)
	}
	b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
}

// TestWorkerProcess is the worker process of BenchmarkWorkerRSS; it skips
// unless that benchmark runs it.
func TestWorkerProcess(t *testing.T) {
	url := os.Getenv("JETPOOL_BENCH_WORKER_URL")
	if url == "" {
		t.Skip("the worker process of BenchmarkWorkerRSS")
	}
	jobs, err := strconv.Atoi(os.Getenv("JETPOOL_BENCH_WORKER_JOBS"))
	require.NoError(t, err)
	_, js := natstest.Connect(t, url)
	cd := newCountdown(jobs)
	p, err := consumer.New(js, consumer.Options{Queue: benchQueue, Concurrency: 256, Logger: slog.New(slog.DiscardHandler), Handler: jetpool.HandlerFunc(func(context.Context, *jetpool.Job) error { cd.tick(); return nil })})
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	select {
	case <-cd.done:
	case <-time.After(time.Minute):
		t.Errorf("%d jobs left", cd.left.Load())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, p.Stop(ctx))
	status, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fmt.Printf("peak-rss-kib %s\n", strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		}
	}
}
