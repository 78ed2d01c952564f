package consumer

import (
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	// pullExpiry bounds each pull request the server holds; nats.go renews
	// it, and its heartbeats come every half, so a pull the server lost is
	// noticed and renewed within seconds, not a minute.
	pullExpiry = 5 * time.Second
	// pullRetry is the pause before pulling again after a pull failed.
	pullRetry = time.Second
	// prefetchHorizon is how far ahead the pool pulls: about as many jobs
	// as its workers finish in this time wait for them (see Options.Prefetch).
	prefetchHorizon = 10 * time.Millisecond
)

// How the pool pulls. Every pull is a Messages() iterator that asks for
// exactly the slots free when it opens (PullMaxMessages and StopAfter both
// n): those slots are promised to it, so whatever it delivers has a slot, and
// its reader never waits for a worker. The reader sits in Next() all along,
// so the pull's heartbeats and status messages are read at once, and it moves
// each job to its slot, where it is heartbeated, the moment it arrives: no
// job waits unheartbeated in a buffer. A new pull opens when a quarter of the
// wanted slots are free and unpromised; under load two or three pulls are
// open at once, so workers never wait for a round trip.
//
// How many slots are wanted adapts to the jobs (see ahead): fast jobs use
// every slot, in large pulls; slow jobs leave most of the queue to other
// processes.

// recordJobTime adds one job's time in a worker to the moving average.
func (p *Pool) recordJobTime(d time.Duration) {
	old := p.jobTime.Load()
	if old == 0 {
		p.jobTime.Store(int64(d))
		return
	}
	p.jobTime.Store(old + (int64(d)-old)/8)
}

// ahead is how many jobs the pool wants to hold beyond its running ones:
// about what its workers finish in prefetchHorizon, at least half of
// Concurrency, at most Prefetch.
func (p *Pool) ahead() int {
	least := min(p.cfg.Prefetch, max(1, p.cfg.Concurrency/2))
	d := p.jobTime.Load()
	if d <= 0 {
		return least
	}
	want := int64(p.cfg.Concurrency) * int64(prefetchHorizon) / d
	return int(min(int64(p.cfg.Prefetch), max(int64(least), want)))
}

// wakePuller tells the puller that slots were freed or a pull ended.
func (p *Pool) wakePuller() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// runPuller opens pulls while there are free slots, until the pool stops.
func (p *Pool) runPuller() {
	defer p.pullers.Done()
	var retry <-chan time.Time
	for {
		if retry == nil {
			if err := p.pull(); err != nil {
				p.log.Warn("pulling jobs; retrying", "error", err, "retry_in", pullRetry)
				retry = time.After(pullRetry)
			}
		}
		select {
		case <-p.stopping:
			return
		case <-p.wake:
		case err := <-p.pullFailed:
			p.log.Warn("pull ended early; retrying", "error", err, "retry_in", pullRetry)
			retry = time.After(pullRetry)
		case <-retry:
			retry = nil
		}
	}
}

// pull opens pulls for the wanted free slots not yet promised to a pull,
// while there are enough of them. Each pull asks for exactly the n slots
// promised to it: the bound on held jobs is kept by the server itself.
func (p *Pool) pull() error {
	for !p.isStopping() {
		n := p.slots.promise(p.ahead())
		if n == 0 {
			return nil
		}
		// Messages sends its pull request on the first Next, in read.
		it, err := p.cons.Messages(jetstream.PullMaxMessages(n), jetstream.StopAfter(n), jetstream.PullExpiry(pullExpiry))
		p.mu.Lock()
		if err != nil || p.isStopping() {
			p.mu.Unlock()
			p.slots.unpromise(n)
			if it != nil {
				it.Stop()
			}
			return err
		}
		// Registered under p.mu with stopping still open: shutdown drains
		// it (invariant 7: the pull and its reader end with the pool).
		p.pulls[it] = struct{}{}
		p.pullers.Add(1)
		p.mu.Unlock()
		go p.read(it, n)
	}
	return nil
}

// isStopping reports whether Stop has begun; checked under p.mu, it also
// tells that shutdown has drained every pull registered so far.
func (p *Pool) isStopping() bool {
	select {
	case <-p.stopping:
		return true
	default:
		return false
	}
}

// read hands every job pull it delivers to the workers until it has
// delivered n, or is drained or fails; then it gives back the slots it did
// not fill.
func (p *Pool) read(it jetstream.MessagesContext, n int) {
	defer p.pullers.Done()
	got := 0
	var failure error
	for {
		msg, err := it.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			break
		}
		if err != nil {
			// Missing heartbeats: nats.go has already asked again. A
			// terminal status (the consumer was deleted) closes the
			// iterator next.
			failure = err
			p.log.Warn("pull interrupted", "error", err)
			continue
		}
		got++
		h := p.hold(msg) // heartbeated from now on (invariant 3)
		select {
		case <-p.stopping:
			p.giveBack(h)
		default:
			p.work <- h // never blocks: it has room for every slot
		}
	}
	p.slots.unpromise(n - got)
	p.mu.Lock()
	delete(p.pulls, it)
	p.mu.Unlock()
	select {
	case <-p.stopping:
	default:
		if got < n { // not drained by Stop: the pull failed
			if failure == nil {
				failure = errors.New("pull closed")
			}
			select {
			case p.pullFailed <- failure:
			default:
			}
			return
		}
	}
	p.wakePuller()
}

// drainPulls ends every open pull; jobs already on their way still arrive,
// and are returned to the queue.
func (p *Pool) drainPulls() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for it := range p.pulls {
		it.Drain()
	}
}

// giveBack returns a job that was not started to the queue at once, first
// counting the delivery as returned so that the next one is not charged an
// attempt. If the count cannot be written the job goes back all the same,
// charged.
// Counting stops when the shutdown grace ends (p.returnCtx): past it, the
// jobs go back charged rather than keep Stop waiting.
func (p *Pool) giveBack(h held) {
	if meta, err := h.msg.Metadata(); err == nil {
		seq := meta.Sequence.Stream
		switch err := p.returns.add(p.returnCtx, seq, jobID(h.msg.Headers(), seq)); {
		case err != nil && p.returnCtx.Err() != nil:
			p.uncounted.Add(1)
		case err != nil:
			p.log.Warn("returned job will be charged an attempt: its return was not recorded",
				"subject", h.msg.Subject(), "bucket", p.cfg.Names.ReturnBucket(), "error", err)
		}
	}
	p.release(h, "pool stopping")
}

// returnersAtStop bounds the jobs a stopping pool gives back at once: each
// return is a request or two, so a pool holding hundreds of jobs far from
// its server still stops promptly.
const returnersAtStop = 32

// giveBackAll gives back every job waiting for a worker, several at once.
func (p *Pool) giveBackAll() {
	var wg sync.WaitGroup
	sem := make(chan struct{}, returnersAtStop)
	for {
		select {
		case h := <-p.work:
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				p.giveBack(h)
			}()
		default:
			wg.Wait()
			return
		}
	}
}

// release returns a job to the queue at once.
func (p *Pool) release(h held, why string) {
	if err := p.settle(h, jetstream.Msg.Nak); err != nil {
		p.stats.ackErrors.Add(1)
		p.log.Error("returning job to the queue", "reason", why, "error", err, "subject", h.msg.Subject())
		return
	}
	p.stats.released.Add(1)
}
