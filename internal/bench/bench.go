// Package bench measures jetpool against raw JetStream on the same broker:
// the same jobs, payloads and concurrency, run alternately, each jetpool
// figure reported beside its raw baseline. It is the engine of the
// `jetpool bench` command.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/jetpool/jetpool/topology"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/broker"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults for [Options].
const (
	DefaultJobs        = 100_000
	DefaultPayload     = 128
	DefaultConcurrency = 64
)

// Fixed parts of the measurement.
const (
	// RawPullers is how many pull subscriptions the raw consumer runs, each
	// pulling RawPullBatch messages at a time.
	RawPullers   = 4
	RawPullBatch = 1000
	// RawWindow is how many raw async publishes await their acknowledgement
	// at once (nats.go's default).
	RawWindow = 4000
	// LatencySenders is how many goroutines send the paced jobs of the
	// latency figure, each enqueueing one job at a time: enough to keep the
	// rate while each publish takes up to LatencySenders/rate.
	LatencySenders = 256
	// LatencyDuration is how long the paced run lasts, at most.
	LatencyDuration = 3 * time.Second
	// RSSConcurrency and RSSPayload shape the worker process whose peak
	// memory is measured; RSSJobs bounds its jobs.
	RSSConcurrency = 256
	RSSPayload     = 4096
	RSSJobs        = 20_000
)

// queue is the one queue of every topology the bench provisions.
const queue = "bench"

// HeaderSent carries the publish time, in Unix nanoseconds, of a job of the
// latency figure.
const HeaderSent = "Jetpool-Bench-Sent"

// Options shape a run. The zero value gives the defaults and an embedded
// broker.
type Options struct {
	// Jobs is N, the jobs of every throughput figure (100,000).
	Jobs int
	// Payload is the size of a job's payload in bytes (128).
	Payload int
	// Concurrency is the worker pool's concurrency (64).
	Concurrency int
	// Repeat runs each raw and jetpool pair this many times and reports
	// medians (1).
	Repeat int
	// LatencyRate is the rate, in jobs per second, of the latency figure;
	// 0 paces it at half of jetpool's end to end rate.
	LatencyRate float64
	// URL is the NATS server to measure; empty runs an embedded broker with
	// file storage in a temporary directory.
	URL string
	// NATSOptions are added to both connections to URL: credentials, TLS.
	NATSOptions []nats.Option
	// Worker returns the command that runs jetpool with the given
	// arguments ("work --queue ... --builtin noop", "enqueue ...", "batch
	// wait ..."), for the worker memory and the command pipeline figures;
	// both are skipped when nil.
	Worker func(ctx context.Context, args []string) *exec.Cmd
	// Progress, when set, is called while the bench runs: a few times a
	// second during each step and once when it ends.
	Progress func(Progress)
	// Logger receives the log of the broker, producers and pools;
	// slog.Default() when nil.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Jobs == 0 {
		o.Jobs = DefaultJobs
	}
	if o.Payload == 0 {
		o.Payload = DefaultPayload
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Repeat == 0 {
		o.Repeat = 1
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Validate reports the first option out of range.
func (o Options) Validate() error {
	switch {
	case o.Jobs < 1:
		return fmt.Errorf("jobs %d must be at least 1", o.Jobs)
	case o.Payload < 0:
		return fmt.Errorf("payload %d bytes must not be negative", o.Payload)
	case o.Payload > 512<<10:
		return fmt.Errorf("payload %d bytes is over the work stream's 1 MiB message limit with headers; use at most 512 KiB", o.Payload)
	case o.Concurrency < 1:
		return fmt.Errorf("concurrency %d must be at least 1", o.Concurrency)
	case o.Repeat < 1:
		return fmt.Errorf("repeat %d must be at least 1", o.Repeat)
	case o.LatencyRate < 0 || math.IsNaN(o.LatencyRate) || math.IsInf(o.LatencyRate, 0):
		return fmt.Errorf("latency rate %v jobs/s must be a positive number, or 0 for half of jetpool's end to end rate", o.LatencyRate)
	}
	return nil
}

// Progress is the state of the step running now.
type Progress struct {
	Step, Steps int    // this step's number, from 1, and how many there are
	Name        string // "raw publish", "jetpool end to end", ...
	Done, Total int    // jobs so far and in all; Total is 0 when unknown
	Finished    bool   // the step's last report
	Elapsed     time.Duration
}

// bench is one run: its connections and what it measured so far.
type bench struct {
	o       Options
	log     *slog.Logger
	url     string
	prefix  string // unique to this run, so that topologies never collide
	pubConn *nats.Conn
	subConn *nats.Conn
	pubJS   jetstream.JetStream // producers publish here
	subJS   jetstream.JetStream // consumers and pools pull here
	payload []byte
	ids     []string

	seq  int // topologies provisioned so far
	step int
	runs []Sample
}

// Run measures raw JetStream and jetpool, alternately, and returns every
// figure. ctx cancels the whole run.
func Run(ctx context.Context, o Options) (*Result, error) {
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	b := &bench{o: o, log: o.Logger, url: o.URL, prefix: "jpbench-" + randomHex(3)}
	res := &Result{
		Date:        time.Now().UTC().Format(time.RFC3339),
		Go:          runtime.Version(),
		CPUs:        runtime.NumCPU(),
		Jobs:        o.Jobs,
		Payload:     o.Payload,
		Concurrency: o.Concurrency,
		Repeat:      o.Repeat,
		LatencyRate: o.LatencyRate,
		Broker:      "external",
	}
	if b.url == "" {
		dir, err := os.MkdirTemp("", "jetpool-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		srv, err := broker.StartContext(ctx, broker.Options{StoreDir: dir, Logger: b.log})
		if err != nil {
			return nil, err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		b.url = srv.ClientURL()
		res.Broker = "embedded"
	}
	if err := b.connect(); err != nil {
		return nil, err
	}
	defer b.pubConn.Close()
	defer b.subConn.Close()
	res.Server = b.subConn.ConnectedServerVersion()

	// nats-server removes an account's store directory, asynchronously,
	// when its last stream is deleted, and a stream created meanwhile fails
	// ("error creating store for stream"): a stream kept for the whole run
	// keeps the directory while the steps' streams come and go.
	keep, err := b.keepStoreDir(ctx)
	if err != nil {
		return nil, err
	}
	defer keep()

	b.payload = make([]byte, o.Payload)
	_, _ = rand.Read(b.payload)
	b.ids = make([]string, o.Jobs)
	for i := range b.ids {
		b.ids[i] = "j" + strconv.Itoa(i)
	}
	if err := b.measure(ctx, res); err != nil {
		return nil, err
	}
	res.Runs = b.runs
	return res, nil
}

func (b *bench) connect() error {
	var err error
	opts := func(name string) []nats.Option { return append([]nats.Option{nats.Name(name)}, b.o.NATSOptions...) }
	if b.pubConn, err = nats.Connect(b.url, opts("jetpool-bench-publisher")...); err != nil {
		return fmt.Errorf("bench: connect: %w", err)
	}
	if b.subConn, err = nats.Connect(b.url, opts("jetpool-bench-consumer")...); err != nil {
		b.pubConn.Close()
		return fmt.Errorf("bench: connect: %w", err)
	}
	if b.pubJS, err = jetstream.New(b.pubConn); err == nil {
		b.subJS, err = jetstream.New(b.subConn)
	}
	if err != nil {
		b.pubConn.Close()
		b.subConn.Close()
	}
	return err
}

// measure runs every step: per repetition, the queued figures (publish
// then consume the same jobs), end to end and, with a worker command,
// enqueue - and the command pipeline as processes, raw and jetpool
// alternating and taking turns to go first; then latency, raw, jetpool and
// raw with a subject per job, all at LatencyRate or half of jetpool's end to
// end rate; then the worker's memory.
func (b *bench) measure(ctx context.Context, res *Result) error {
	steps := 9 * b.o.Repeat
	if b.o.Worker != nil {
		steps += 1 + 4*b.o.Repeat
	}
	kinds := func(rep int) []string {
		if rep%2 == 0 {
			return []string{Jetpool, Raw}
		}
		return []string{Raw, Jetpool}
	}
	if err := b.warmUp(ctx); err != nil {
		return err
	}
	// The throughput figures, each a raw and a jetpool step per repetition.
	figures := []func(ctx context.Context, kind string, rep, steps int) error{b.queued, b.endToEnd}
	if b.o.Worker != nil {
		figures = append(figures, b.enqueueCommand, b.command)
	}
	for rep := 1; rep <= b.o.Repeat; rep++ {
		for _, figure := range figures {
			for _, kind := range kinds(rep) {
				if err := figure(ctx, kind, rep, steps); err != nil {
					return err
				}
			}
		}
	}
	res.Publish = b.pair(FigurePublish)
	res.Consume = b.pair(FigureConsume)
	res.EndToEnd = b.pair(FigureEndToEnd)
	if b.o.Worker != nil {
		enqueue, commands := b.pair(FigureEnqueueCommand), b.pair(FigureCommands)
		res.EnqueueCommand = &enqueue
		res.Commands = &commands
		inProcess := b.pairOf(FigureEndToEnd, FigureCommands)
		res.CommandsInProcess = &inProcess
	}
	// One load for all, so the ratios are what jetpool adds at that load.
	rate := b.o.LatencyRate
	if rate == 0 {
		rate = res.EndToEnd.Jetpool / 2
	}
	for rep := 1; rep <= b.o.Repeat; rep++ {
		for _, kind := range append(kinds(rep), RawSubjectPerJob) {
			if err := b.latency(ctx, kind, rep, steps, rate); err != nil {
				return err
			}
		}
	}
	res.Latency = b.latencyPair()
	if b.o.Worker != nil {
		rss, err := b.workerRSS(ctx, steps)
		if err != nil {
			return err
		}
		res.WorkerRSS = rss
	}
	return nil
}

// keepStoreDir creates an empty file-storage stream that lives until the
// returned function deletes it.
func (b *bench) keepStoreDir(ctx context.Context) (func(), error) {
	name := strings.ToUpper(strings.ReplaceAll(b.prefix, "-", "_")) + "_KEEP"
	_, err := b.subJS.CreateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: []string{b.prefix + ".keep"}, Storage: jetstream.FileStorage,
		Description: "jetpool bench: keeps the store directory while the bench runs",
	})
	if err != nil {
		return nil, fmt.Errorf("bench: create stream %s: %w", name, err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := b.subJS.DeleteStream(ctx, name); err != nil {
			b.log.Warn("bench: delete stream", "stream", name, "error", err)
		}
	}, nil
}

// warmUp publishes and consumes a few jobs both ways, unmeasured, so that
// the first measured run does not pay for connections, buffers and code
// the later ones find ready.
func (b *bench) warmUp(ctx context.Context) error {
	jobs, progress, step := b.o.Jobs, b.o.Progress, b.step
	b.o.Jobs, b.o.Progress = min(jobs, 2000), nil
	defer func() { b.o.Jobs, b.o.Progress, b.step, b.runs = jobs, progress, step, nil }()
	for _, kind := range []string{Raw, Jetpool} {
		if err := b.queued(ctx, kind, 0, 0); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	return nil
}

// stepContext bounds one step generously: a stalled step fails instead of
// hanging.
func (b *bench) stepContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, time.Minute+time.Duration(b.o.Jobs)*time.Millisecond)
}

// provisioned is one provisioned set of streams and buckets, under a prefix of
// its own, with the queue's consumer.
type provisioned struct {
	names  jetpool.Names
	stream jetstream.Stream
	cons   jetstream.Consumer
}

// provision creates a fresh topology named after tag; drop deletes it.
func (b *bench) provision(ctx context.Context, tag string) (*provisioned, error) {
	b.seq++
	names, err := jetpool.NewNames(fmt.Sprintf("%s-%d-%s", b.prefix, b.seq, tag))
	if err != nil {
		return nil, err
	}
	if err := topology.Provision(ctx, b.subJS, topology.Options{Names: names}, queue); err != nil {
		return nil, fmt.Errorf("bench: provision: %w", err)
	}
	t := &provisioned{names: names}
	if t.stream, err = b.subJS.Stream(ctx, names.WorkStream()); err != nil {
		return nil, fmt.Errorf("bench: open stream: %w", err)
	}
	if t.cons, err = t.stream.Consumer(ctx, names.ConsumerName(queue)); err != nil {
		return nil, fmt.Errorf("bench: open consumer: %w", err)
	}
	return t, nil
}

// drop deletes t's streams and buckets (every stream named after its
// prefix, key-value buckets' included, whatever provisioning made), so that
// a shared server keeps nothing of the bench and later steps do not share
// its files.
func (b *bench) drop(t *provisioned) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	norm := func(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }
	ours := []string{norm(t.names.Prefix()) + "_", norm("KV_"+t.names.Prefix()) + "_", norm("OBJ_"+t.names.Prefix()) + "_"}
	names := b.subJS.StreamNames(ctx)
	var doomed []string
	for name := range names.Name() {
		for _, p := range ours {
			if strings.HasPrefix(norm(name), p) {
				doomed = append(doomed, name)
				break
			}
		}
	}
	if err := names.Err(); err != nil {
		b.log.Warn("bench: list streams", "error", err)
	}
	for _, s := range doomed {
		if err := b.subJS.DeleteStream(ctx, s); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			b.log.Warn("bench: delete stream", "stream", s, "error", err)
		}
	}
}

// waitEmpty polls until t's work stream holds no message: every job acked.
func waitEmpty(ctx context.Context, t *provisioned) error {
	for {
		info, err := t.stream.Info(ctx)
		if err != nil {
			return fmt.Errorf("bench: stream info: %w", err)
		}
		if info.State.Msgs == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: %d jobs still in the stream: %w", info.State.Msgs, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// tracker reports a step's progress a few times a second while it runs.
type tracker struct {
	b     *bench
	p     Progress
	start time.Time
	done  func() int
	stop  chan struct{}
	wg    sync.WaitGroup
}

// track starts the next step, named name, of total jobs (0: unknown), whose
// jobs so far done counts (nil: unknown).
func (b *bench) track(name string, steps, total int, done func() int) *tracker {
	b.step++
	t := &tracker{b: b, p: Progress{Step: b.step, Steps: steps, Name: name, Total: total}, start: time.Now(), done: done, stop: make(chan struct{})}
	if b.o.Progress == nil {
		return t
	}
	b.o.Progress(t.p)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-t.stop:
				return
			case <-tick.C:
				b.o.Progress(t.now())
			}
		}
	}()
	return t
}

func (t *tracker) now() Progress {
	p := t.p
	p.Elapsed = time.Since(t.start)
	if t.done != nil {
		p.Done = min(t.done(), max(p.Total, 0))
	}
	return p
}

// finish ends the step's reports with a last one.
func (t *tracker) finish() {
	if t.b.o.Progress == nil {
		return
	}
	close(t.stop)
	t.wg.Wait()
	p := t.now()
	p.Finished = true
	if p.Total > 0 {
		p.Done = p.Total
	}
	t.b.o.Progress(p)
}

// counter counts jobs and closes reached when it reaches its target.
type counter struct {
	n       atomic.Int64
	target  int64
	once    sync.Once
	reached chan struct{}
}

func newCounter(target int) *counter {
	return &counter{target: int64(target), reached: make(chan struct{})}
}

func (c *counter) add() {
	if c.n.Add(1) == c.target {
		c.once.Do(func() { close(c.reached) })
	}
}

func (c *counter) count() int { return int(c.n.Load()) }

// wait blocks until the target is reached or ctx ends.
func (c *counter) wait(ctx context.Context) error {
	select {
	case <-c.reached:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bench: %d of %d jobs received: %w", c.n.Load(), c.target, ctx.Err())
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
