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
	"github.com/jetpool/jetpool/internal/topology"
	"github.com/nats-io/nats.go/jetstream"
)

// pullExpiry bounds each pull request; its heartbeats come every half.
const pullExpiry = 5 * time.Second

// ErrStarted is returned by [Pool.Start] on a pool already started.
var ErrStarted = errors.New("consumer: pool already started")

// Pool runs a handler on the jobs of one queue. Every pool of a queue, in any
// process, shares the queue's durable consumer, so starting another process
// adds workers.
type Pool struct {
	js      jetstream.JetStream
	cfg     Config
	handler jetpool.Handler
	log     *slog.Logger
	stats   counters

	startOnce sync.Once
	stopOnce  sync.Once

	consume   jetstream.ConsumeContext
	work      chan jetstream.Msg
	stopping  chan struct{} // closed when Stop begins: no new job starts
	jobCtx    context.Context
	cancelJob context.CancelFunc // cancels running jobs once the grace ends
	slots     []atomic.Pointer[jetstream.Msg]
	workers   sync.WaitGroup
	beats     sync.WaitGroup
	stopBeats chan struct{}
	stopped   chan struct{}
	heartbeat time.Duration
}

// New checks cfg and returns a pool that is not yet running.
func New(js jetstream.JetStream, cfg Config, h jetpool.Handler) (*Pool, error) {
	if js == nil {
		return nil, errors.New("consumer: nil JetStream")
	}
	if h == nil {
		return nil, errors.New("consumer: nil handler")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Pool{
		js:        js,
		cfg:       cfg,
		handler:   h,
		log:       cfg.Logger.With("queue", cfg.Queue),
		work:      make(chan jetstream.Msg),
		stopping:  make(chan struct{}),
		stopBeats: make(chan struct{}),
		stopped:   make(chan struct{}),
		slots:     make([]atomic.Pointer[jetstream.Msg], cfg.Concurrency),
	}, nil
}

// Start waits for the work and dead-letter streams (or, with
// Config.Provision, creates what is missing), creates the queue's consumer if
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
	p.heartbeat = p.cfg.Heartbeat
	if p.heartbeat == 0 {
		p.heartbeat = max(cons.CachedInfo().Config.AckWait/3, 10*time.Millisecond)
	}
	p.jobCtx, p.cancelJob = context.WithCancel(context.Background())
	for i := range p.cfg.Concurrency {
		p.workers.Add(1)
		go p.runWorker(i)
	}
	p.beats.Add(1)
	go p.runHeartbeats()
	p.consume, err = cons.Consume(p.dispatch,
		jetstream.PullMaxMessages(p.cfg.Prefetch),
		// Short-lived pull requests: a pull the server lost is noticed (by
		// its missing heartbeats) and renewed within seconds, not a minute.
		jetstream.PullExpiry(pullExpiry),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			p.log.Warn("pulling jobs", "error", err)
		}))
	if err != nil {
		p.stopOnce.Do(func() { p.shutdown(context.Background()) })
		return fmt.Errorf("consumer: consume queue %s: %w", p.cfg.Queue, err)
	}
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
	return cons, err
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

// Stop stops pulling, returns jobs fetched but not started to the queue,
// lets running jobs finish within the shutdown grace, then cancels and
// returns the rest. It returns when every goroutine has ended or ctx ends.
// Stop is safe to call more than once.
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
func (p *Pool) busy() int {
	n := 0
	for i := range p.slots {
		if p.slots[i].Load() != nil {
			n++
		}
	}
	return n
}

// Stopped is closed once the pool has fully stopped.
func (p *Pool) Stopped() <-chan struct{} { return p.stopped }

// Stats returns the pool's counters so far.
func (p *Pool) Stats() Stats { return p.stats.snapshot() }

func (p *Pool) shutdown(ctx context.Context) {
	if p.jobCtx == nil { // never started
		select {
		case <-p.stopped:
		default:
			close(p.stopped)
		}
		return
	}
	close(p.stopping)
	grace := time.NewTimer(p.cfg.ShutdownGrace)
	defer grace.Stop()
	if p.consume != nil {
		p.consume.Drain() // buffered jobs reach dispatch, which returns them
		select {
		case <-p.consume.Closed():
		case <-grace.C:
			p.consume.Stop()
			grace.Reset(0)
		case <-ctx.Done():
			p.consume.Stop()
		}
	}
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
	close(p.stopped)
	p.log.Info("worker pool stopped")
}

// dispatch is the Consume callback: it hands msg to a free worker, keeping
// it alive with heartbeats while every worker is busy.
func (p *Pool) dispatch(msg jetstream.Msg) {
	select {
	case <-p.stopping:
		p.release(msg, "pool stopping")
		return
	default:
	}
	select {
	case p.work <- msg:
		return
	default:
	}
	t := time.NewTicker(p.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-p.stopping:
			p.release(msg, "pool stopping")
			return
		case p.work <- msg:
			return
		case <-t.C:
			if err := msg.InProgress(); err != nil {
				p.log.Warn("heartbeat of waiting job", "error", err)
			}
		}
	}
}

// release returns a job that was not started to the queue at once.
func (p *Pool) release(msg jetstream.Msg, why string) {
	if err := msg.Nak(); err != nil {
		p.stats.ackErrors.Add(1)
		p.log.Error("returning job to the queue", "reason", why, "error", err, "subject", msg.Subject())
		return
	}
	p.stats.released.Add(1)
}

func (p *Pool) runWorker(slot int) {
	defer p.workers.Done()
	for {
		select {
		case <-p.stopping:
			return
		case msg := <-p.work:
			select {
			case <-p.stopping: // handed over as the pool began to stop
				p.release(msg, "pool stopping")
				continue
			default:
			}
			p.slots[slot].Store(&msg)
			p.process(msg)
			p.slots[slot].Store(nil)
		}
	}
}

// runHeartbeats reports every running job in progress each heartbeat, so
// that JetStream does not redeliver it however long it runs.
func (p *Pool) runHeartbeats() {
	defer p.beats.Done()
	t := time.NewTicker(p.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-p.stopBeats:
			return
		case <-t.C:
			for i := range p.slots {
				if m := p.slots[i].Load(); m != nil {
					if err := (*m).InProgress(); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
						p.log.Warn("heartbeat of running job", "error", err)
					}
				}
			}
		}
	}
}
