package consumer

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// slot holds one delivered job from the moment its pull hands it over until
// it is settled (acked, naked or terminated), whether it waits for a worker
// or runs; while it holds one, the job is heartbeated. The pool has
// Concurrency+Prefetch of them, counted by [slots], which bounds the
// unacked jobs.
type slot struct {
	mu  sync.Mutex // orders heartbeats before the settling ack
	msg jetstream.Msg
}

// held is a job in its slot, as it travels from a pull to a worker.
type held struct {
	slot int
	msg  jetstream.Msg
}

// hold puts msg in a slot promised to a pull (see Pool.pull) and returns it.
// From here the job is heartbeated until settle: invariant 3, every job a
// process holds, started or not, is heartbeated or returned before its
// AckWait.
func (p *Pool) hold(msg jetstream.Msg) held {
	i := p.slots.fill()
	s := &p.jobs[i]
	s.mu.Lock()
	s.msg = msg
	s.mu.Unlock()
	return held{slot: i, msg: msg}
}

// settle stops the heartbeats of h, sends its final answer with op and
// frees its slot for the next pull. Once the slot is emptied no heartbeat
// can follow op to the server: a late in-progress after a NakWithDelay
// would restart the AckWait clock in place of the delay.
func (p *Pool) settle(h held, op func(jetstream.Msg) error) error {
	s := &p.jobs[h.slot]
	s.mu.Lock()
	s.msg = nil
	s.mu.Unlock()
	err := op(h.msg)
	if p.slots.vacate(h.slot, p.ahead()) {
		p.wakePuller()
	}
	return err
}

// runHeartbeats reports every held job in progress each heartbeat, the
// waiting ones as well as the running ones, so that JetStream redelivers
// none of them while the pool lives, however long they wait or run:
// invariant 3, a job never runs twice at the same time while its first
// worker is alive. The heartbeat is a third of AckWait by default, so the
// beat after a lost one still comes in time.
func (p *Pool) runHeartbeats() {
	defer p.beats.Done()
	t := time.NewTicker(p.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-p.stopBeats:
			return
		case <-t.C:
			if n, err := p.beat(); err != nil {
				p.log.Warn("heartbeat of held jobs", "failed", n, "error", err)
			}
		}
	}
}

// beat sends one in-progress for each held job; it returns how many failed
// and the last error.
func (p *Pool) beat() (failed int, last error) {
	for i := range p.jobs {
		s := &p.jobs[i]
		s.mu.Lock()
		if s.msg != nil {
			if err := s.msg.InProgress(); err != nil {
				failed, last = failed+1, err
			}
		}
		s.mu.Unlock()
	}
	return failed, last
}
