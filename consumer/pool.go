package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/topology"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrStarted is returned by [Pool.Start] on a pool already started.
var ErrStarted = errors.New("consumer: pool already started")

// Pool runs a handler on the jobs of one queue. Every pool of a queue, in any
// process, shares the queue's durable consumer, so starting another process
// adds workers.
type Pool struct {
	js      jetstream.JetStream
	cfg     Options
	handler jetpool.Handler
	log     *slog.Logger
	stats   counters

	startOnce sync.Once
	stopOnce  sync.Once

	cons    jetstream.Consumer
	returns returns // unstarted deliveries per message, not attempts
	// returnCtx bounds the counting of returns at Stop (set before
	// stopping closes); uncounted counts the returns it cut short.
	returnCtx context.Context
	uncounted atomic.Int64
	slots     *slots       // which of the Concurrency+Prefetch slots are free, promised or filled
	jobs      []slot       // the job in each slot, heartbeated while held, waiting or running
	work      chan held    // jobs held and not started, in delivery order
	jobTime   atomic.Int64 // moving average of a job's time in a worker, ns; 0 before the first
	heartbeat time.Duration

	mu    sync.Mutex // guards pulls; stopping closes under it
	pulls map[jetstream.MessagesContext]struct{}

	wake       chan struct{} // a slot was freed or a pull ended
	pullFailed chan error
	stopping   chan struct{} // closed when Stop begins: no pull opens, no job starts
	jobCtx     context.Context
	cancelJob  context.CancelFunc // cancels running jobs once the grace ends
	running    atomic.Int64
	// Invariant 7: every goroutine of the pool is counted in one of these
	// and awaited by shutdown before stopped closes.
	pullers   sync.WaitGroup // the puller and the readers of open pulls
	workers   sync.WaitGroup // the Concurrency workers
	beats     sync.WaitGroup // the heartbeat loop, stopped last
	stopBeats chan struct{}
	stopped   chan struct{}
}

// New checks cfg and returns a pool that is not yet running.
func New(js jetstream.JetStream, cfg Options) (*Pool, error) {
	if js == nil {
		return nil, errors.New("consumer: nil JetStream")
	}
	if cfg.Handler == nil {
		return nil, errors.New("consumer: nil Handler")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	size := cfg.Concurrency + cfg.Prefetch
	p := &Pool{
		js:         js,
		cfg:        cfg,
		handler:    cfg.Handler,
		log:        cfg.Logger.With("queue", cfg.Queue),
		slots:      newSlots(cfg.Concurrency, cfg.Prefetch),
		jobs:       make([]slot, size),
		work:       make(chan held, size),
		pulls:      map[jetstream.MessagesContext]struct{}{},
		wake:       make(chan struct{}, 1),
		pullFailed: make(chan error, 1),
		stopping:   make(chan struct{}),
		stopBeats:  make(chan struct{}),
		stopped:    make(chan struct{}),
	}
	return p, nil
}

// Start waits for the work and dead-letter streams (or, with
// Options.Provision, creates what is missing), creates the queue's consumer if
// needed and begins pulling jobs. While the streams are missing or JetStream
// is unavailable it logs a warning and retries until ctx ends. ctx bounds the
// setup only; stop the pool with [Pool.Stop].
func (p *Pool) Start(ctx context.Context) error {
	err := ErrStarted
	p.startOnce.Do(func() { err = p.start(ctx) })
	return err
}

func (p *Pool) start(ctx context.Context) error {
	cons, err := p.open(ctx)
	if err != nil {
		close(p.stopped)
		return fmt.Errorf("consumer: queue %s: %w", p.cfg.Queue, err)
	}
	p.cons = cons
	p.heartbeat = p.cfg.Heartbeat
	if p.heartbeat == 0 {
		p.heartbeat = max(cons.CachedInfo().Config.AckWait/3, 10*time.Millisecond)
	}
	p.jobCtx, p.cancelJob = context.WithCancel(context.Background())
	for range p.cfg.Concurrency {
		p.workers.Add(1)
		go p.runWorker()
	}
	p.beats.Add(1)
	go p.runHeartbeats()
	p.pullers.Add(1)
	go p.runPuller()
	p.log.Info("worker pool started", "concurrency", p.cfg.Concurrency, "prefetch", p.cfg.Prefetch, "heartbeat", p.heartbeat.String())
	return nil
}

// open returns the queue's consumer once the topology is there.
func (p *Pool) open(ctx context.Context) (jetstream.Consumer, error) {
	opts := topology.Options{Names: p.cfg.Names, AckWait: p.cfg.AckWait}
	if p.cfg.Provision {
		if err := topology.CreateMissing(ctx, p.js, opts, p.cfg.Queue); err != nil {
			return nil, err
		}
	}
	w := topology.Waiter{
		Logger: p.log,
		Hint:   fmt.Sprintf(`run "jetpool provision %s" or start workers with --provision`, p.cfg.Queue),
	}
	var cons jetstream.Consumer
	err := w.Wait(ctx, func(ctx context.Context) error {
		if _, _, err := topology.OpenStreams(ctx, p.js, p.cfg.Names); err != nil {
			return err
		}
		var err error
		cons, err = topology.CreateQueue(ctx, p.js, opts, p.cfg.Queue, p.cfg.Concurrency+p.cfg.Prefetch)
		return err
	})
	if err != nil {
		return nil, err
	}
	// Counting returns is worth a warning, never a pool that does not
	// start: a bucket missing, or a worker not allowed to read it.
	rctx, cancel := context.WithTimeout(ctx, returnTimeout)
	defer cancel()
	if p.returns, err = openReturns(rctx, p.js, p.cfg.Names, p.cfg.Queue); err != nil || p.returns.kv == nil {
		p.returns = returns{}
		p.log.Warn("return counts unavailable: a job this pool returns unstarted at stop will be charged an attempt",
			"bucket", p.cfg.Names.ReturnBucket(), "error", err, "hint", "run jetpool provision; workers need the bucket in their permissions")
	}
	return cons, nil
}

// Run starts the pool, runs until ctx ends, then stops gracefully. It returns
// once every goroutine of the pool has ended.
func (p *Pool) Run(ctx context.Context) error {
	if err := p.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return p.Stop(context.Background())
}

// Stop stops pulling, returns to the queue at once (with a Nak) every job
// fetched but not started, including those still arriving from the pulls it
// drains, lets running jobs finish within the shutdown grace, then cancels
// and returns the rest. A job returned unstarted is not charged an attempt
// (the queue's return bucket counts it); a cancelled one is. Stop returns when every goroutine has ended or ctx ends, and is safe to call
// more than once.
func (p *Pool) Stop(ctx context.Context) error {
	p.stopOnce.Do(func() { go p.shutdown(ctx) })
	select {
	case <-p.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("consumer: pool %s did not stop: %d jobs still running (handlers ignoring their context?): %w",
			p.cfg.Queue, p.busy(), ctx.Err())
	}
}

// busy counts the jobs running now.
func (p *Pool) busy() int64 { return p.running.Load() }

// Stopped is closed once the pool has fully stopped.
func (p *Pool) Stopped() <-chan struct{} { return p.stopped }

// Stats returns the pool's counters so far.
func (p *Pool) Stats() Stats { return p.stats.snapshot() }

// shutdown stops the pool in the order that keeps invariants 1 and 3: no
// pull opens, jobs not started go back at once (uncharged where the return
// bucket allows), running ones finish or are cancelled and given back, and
// the heartbeats of held jobs stop only once no job is held. It ends every
// goroutine of the pool before closing stopped (invariant 7).
func (p *Pool) shutdown(ctx context.Context) {
	if p.jobCtx == nil { // never started
		select {
		case <-p.stopped:
		default:
			close(p.stopped)
		}
		return
	}
	returnCtx, endReturns := context.WithTimeout(ctx, p.cfg.ShutdownGrace)
	defer endReturns()
	p.returnCtx = returnCtx
	p.mu.Lock()
	close(p.stopping)
	p.mu.Unlock()
	grace := time.NewTimer(p.cfg.ShutdownGrace)
	defer grace.Stop()

	// Stop pulling; what the pulls still deliver is returned as it arrives.
	p.drainPulls()
	pulled := make(chan struct{})
	go func() { p.pullers.Wait(); close(pulled) }()
	select {
	case <-pulled:
	case <-grace.C:
		// A drain waits for the server's answer; nats.go bounds it.
		p.log.Warn("shutdown grace over while pulls drain", "grace", p.cfg.ShutdownGrace)
		<-pulled
		grace.Reset(0)
	}
	// Return the jobs no worker has started (workers return those they
	// take from now on).
	p.giveBackAll()

	idle := make(chan struct{})
	go func() { p.workers.Wait(); close(idle) }()
	select {
	case <-idle:
	case <-grace.C:
		p.log.Warn("shutdown grace over: cancelling running jobs", "grace", p.cfg.ShutdownGrace)
		p.cancelJob()
		<-idle
	case <-ctx.Done():
		p.cancelJob()
		<-idle
	}
	p.cancelJob()
	close(p.stopBeats)
	p.beats.Wait()
	if n := p.uncounted.Load(); n > 0 {
		p.log.Warn("shutdown grace over while returning jobs: those returned since are charged an attempt", "jobs", n)
	}
	close(p.stopped)
	p.log.Info("worker pool stopped")
}

// runWorker runs the jobs handed over by the pulls, one at a time, until
// the pool stops; a job handed over as it stops goes back unstarted.
func (p *Pool) runWorker() {
	defer p.workers.Done()
	for {
		select {
		case <-p.stopping:
			return
		case h := <-p.work:
			select {
			case <-p.stopping: // handed over as the pool began to stop
				p.giveBack(h)
				continue
			default:
			}
			p.running.Add(1)
			start := time.Now()
			p.process(h)
			p.recordJobTime(time.Since(start))
			p.running.Add(-1)
		}
	}
}
