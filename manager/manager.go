package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetpool/jetpool/batch"
	"github.com/jetpool/jetpool/internal/retry"
	"github.com/jetpool/jetpool/producer"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/topology"
	"github.com/nats-io/nats.go/jetstream"
)

// Source returns the jobs of one cycle. Items without an ID get one derived
// from their position. A Source that reports items still unfinished on every
// call makes a job that went dead in one cycle come back in the next.
type Source func(ctx context.Context) ([]producer.Item, error)

// Options configures a [Manager]. A zero field takes its default; a
// negative one is an error.
type Options struct {
	// Name identifies the manager: one manager per name leads across all
	// processes. It is also the stem of every batch and job ID it makes.
	Name string
	// Queue receives the jobs.
	Queue string
	// Interval is the shortest time between the starts of two cycles
	// ([DefaultInterval] when zero).
	Interval time.Duration
	// Source gives each cycle's jobs.
	Source Source
	// OnCycle, when set, receives each cycle's final report.
	OnCycle func(CycleReport)
	// Progress, when set, receives intermediate reports during the wait.
	Progress func(*batch.Report)
	// Cycles stops the manager after that many cycles it led; 0 for no limit.
	Cycles int
	// LeaseTTL is the leader lease lifetime, used only when the lease bucket
	// is created here; an existing bucket's TTL wins (10s by default).
	LeaseTTL time.Duration
	// Provision creates the streams and buckets when missing (one replica);
	// without it the manager waits for `jetpool provision`, logging what is
	// missing.
	Provision bool
	// Names derives subjects and buckets; jetpool.DefaultNames() when zero.
	Names jetpool.Names
	// Logger receives the manager's log; slog.Default() when nil.
	Logger *slog.Logger
}

// CycleReport is what one cycle did.
type CycleReport struct {
	Cycle    int64 // the slot number: start time divided by the interval
	Batch    string
	Report   *batch.Report
	Duration time.Duration
	Overrun  bool
	Err      error
}

// Stats counts what a manager did.
type Stats struct {
	Cycles, Overruns, SourceErrors, EnqueueErrors uint64
	Leader                                        bool
}

// Manager is a managed producer pool: every Interval, while it holds its
// name's leader lease, it asks its Source for jobs, enqueues them as one
// batch with IDs derived from the cycle, and waits for the batch. A cycle
// that outlasts the interval logs a warning and counts an overrun;
// otherwise the manager waits out the rest of the interval.
type Manager struct {
	p     *producer.Producer
	js    jetstream.JetStream
	cfg   Options
	log   *slog.Logger
	owner string

	cycles, overruns, sourceErrors, enqueueErrors atomic.Uint64
	leader                                        atomic.Bool
}

// DefaultInterval is the interval of a manager whose Options.Interval is zero.
const DefaultInterval = time.Minute

// New checks opts and returns a manager that is not yet running.
func New(js jetstream.JetStream, opts Options) (*Manager, error) {
	if err := jetpool.ValidateName("manager name", opts.Name); err != nil {
		return nil, fmt.Errorf("manager: %w", err)
	}
	if err := jetpool.ValidateQueue(opts.Queue); err != nil {
		return nil, fmt.Errorf("manager: %w", err)
	}
	if opts.Interval < 0 {
		return nil, fmt.Errorf("manager: Options.Interval is %s: it must not be negative", opts.Interval)
	}
	if opts.Cycles < 0 {
		return nil, fmt.Errorf("manager: Options.Cycles is %d: it must not be negative", opts.Cycles)
	}
	if opts.LeaseTTL < 0 {
		return nil, fmt.Errorf("manager: Options.LeaseTTL is %s: it must not be negative", opts.LeaseTTL)
	}
	if opts.Source == nil {
		return nil, fmt.Errorf("manager: %s: Options.Source is nil: a manager needs a source of jobs", opts.Name)
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	p, err := producer.New(js, producer.Options{Names: opts.Names, Logger: opts.Logger, Provision: opts.Provision})
	if err != nil {
		return nil, fmt.Errorf("manager: %s: %w", opts.Name, err)
	}
	return &Manager{p: p, js: js, cfg: opts, owner: jetpool.NewID(),
		log: opts.Logger.With("manager", opts.Name, "queue", opts.Queue)}, nil
}

// Stats returns the manager's counters.
func (m *Manager) Stats() Stats {
	return Stats{Cycles: m.cycles.Load(), Overruns: m.overruns.Load(),
		SourceErrors: m.sourceErrors.Load(), EnqueueErrors: m.enqueueErrors.Load(), Leader: m.leader.Load()}
}

// Run leads or stands by until ctx ends (or Cycles cycles are done), then
// gives up its lease and returns once its goroutines have ended.
func (m *Manager) Run(ctx context.Context) error {
	topo := topology.Options{Names: m.cfg.Names, LeaseTTL: m.cfg.LeaseTTL}
	if m.cfg.Provision {
		if err := topology.CreateMissing(ctx, m.js, topo); err != nil {
			return fmt.Errorf("manager: %s: %w", m.cfg.Name, err)
		}
	}
	var l *lease
	err := topology.Waiter{Logger: m.log, Hint: `run "jetpool provision" or set manager.Options.Provision`}.Wait(ctx, func(ctx context.Context) error {
		kv, err := topology.OpenLeases(ctx, m.js, m.cfg.Names)
		if err == nil {
			l, err = newLease(ctx, kv, m.cfg.Name, m.owner)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("manager: %s: %w", m.cfg.Name, err)
	}

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	won := make(chan struct{}, 1) // signalled when this manager becomes leader
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); m.keepLease(ctx, l, won) }()
	defer func() {
		stop()
		wg.Wait()
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := l.release(rctx); err != nil {
			m.log.Warn("releasing leader lease", "error", err)
		}
		m.leader.Store(false)
	}()

	led, last := 0, int64(-1)
	for ctx.Err() == nil {
		if !l.leader.Load() {
			t := time.NewTimer(l.ttl / 4)
			select {
			case <-ctx.Done():
			case <-won:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		start := time.Now()
		slot := start.UnixNano() / int64(m.cfg.Interval)
		if slot <= last { // never run one slot twice
			if !retry.Sleep(ctx, time.Duration((last+1)*int64(m.cfg.Interval)-start.UnixNano())) {
				break
			}
			continue
		}
		last = slot
		rep := m.cycle(ctx, slot)
		led++
		if m.cfg.OnCycle != nil {
			m.cfg.OnCycle(rep)
		}
		if m.cfg.Cycles > 0 && led >= m.cfg.Cycles {
			break
		}
		if rep.Overrun {
			continue
		}
		if !retry.Sleep(ctx, m.cfg.Interval-time.Since(start)) {
			break
		}
	}
	return nil
}

// keepLease takes or renews the lease three times per TTL.
func (m *Manager) keepLease(ctx context.Context, l *lease, won chan<- struct{}) {
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		was := l.leader.Load()
		tctx, cancel := context.WithTimeout(ctx, l.ttl/3)
		now, err := l.tick(tctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			m.log.Warn("leader lease", "error", err)
		}
		m.leader.Store(now)
		if now != was {
			m.log.Info("leadership changed", "leader", now)
			if now {
				select {
				case won <- struct{}{}:
				default:
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// cycle runs one cycle: source, enqueue, join.
func (m *Manager) cycle(ctx context.Context, slot int64) (rep CycleReport) {
	start := time.Now()
	id := m.cfg.Name + "-" + strconv.FormatInt(slot, 10)
	rep = CycleReport{Cycle: slot, Batch: id}
	log := m.log.With("batch", id)
	defer func() { rep.Duration = time.Since(start) }()

	items, err := m.callSource(ctx)
	if err != nil {
		m.sourceErrors.Add(1)
		log.Error("source failed; the next cycle tries again", "error", err)
		rep.Err = err
		return rep
	}
	for i := range items {
		if items[i].ID == "" {
			items[i].ID = strconv.Itoa(i)
		}
		items[i].ID = id + "-" + items[i].ID
	}
	m.cycles.Add(1)
	if err := m.enqueue(ctx, slot, id, items); err != nil {
		m.enqueueErrors.Add(1)
		rep.Err = err
		if errors.Is(err, producer.ErrBatchMismatch) {
			log.Error("this cycle was enqueued already, with other jobs, by an earlier leader; the source runs again next interval", "error", err)
			return rep
		}
		log.Error("cycle failed: jobs not enqueued within the interval", "error", err)
		var pe *producer.PartialError
		if !errors.As(err, &pe) {
			return rep
		}
	}
	var opts []batch.WaitOption
	if m.cfg.Progress != nil {
		opts = append(opts, batch.WithProgress(m.cfg.Progress))
	}
	r, err := m.p.Wait(ctx, id, opts...)
	rep.Report = r
	if err != nil && ctx.Err() == nil {
		rep.Err = err
		log.Error("waiting for cycle", "error", err)
	}
	if r != nil && r.NotEnqueued > 0 && rep.Err == nil {
		rep.Err = fmt.Errorf("cycle %s: %d jobs not enqueued", id, r.NotEnqueued)
	}
	took := time.Since(start)
	if took > m.cfg.Interval {
		rep.Overrun = true
		m.overruns.Add(1)
		log.Warn("cycle has exceeded the interval time", "took", took, "interval", m.cfg.Interval)
	}
	if r != nil && r.Done && rep.Err == nil {
		log.Info("cycle done", "expected", r.Expected, "completed", r.Completed, "dead", r.Dead, "took", took)
	}
	return rep
}

// enqueue publishes the cycle's items, and while some are missing sends
// them again under the same IDs until the cycle's interval ends: a leader
// change or a lost connection delays a cycle, it does not drop it.
func (m *Manager) enqueue(ctx context.Context, slot int64, batch string, items []producer.Item) error {
	end := time.Unix(0, (slot+1)*int64(m.cfg.Interval))
	if least := time.Now().Add(2 * producer.DefaultAckTimeout); end.Before(least) {
		end = least
	}
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	for n := 0; ; n++ {
		_, err := m.p.EnqueueBatch(ctx, m.cfg.Queue, items, producer.WithBatch(batch))
		var pe *producer.PartialError
		if err == nil || !errors.As(err, &pe) && !retry.Transient(err) || ctx.Err() != nil {
			return err
		}
		m.log.Warn("cycle incomplete; sending the missing jobs again", "batch", batch, "error", err)
		if !retry.Sleep(ctx, retry.Delay(n)) {
			return err
		}
	}
}

func (m *Manager) callSource(ctx context.Context) (items []producer.Item, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("source panic: %v", v)
		}
	}()
	return m.cfg.Source(ctx)
}
