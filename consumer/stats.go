package consumer

import "sync/atomic"

// Stats counts what a pool did since it started.
type Stats struct {
	Completed uint64 // jobs acknowledged after success
	Retried   uint64 // attempts that failed and were scheduled for another try
	Dead      uint64 // jobs moved to the dead-letter stream
	Panics    uint64 // handler panics (each also counted as retried or dead)
	Released  uint64 // jobs returned unstarted at shutdown
	AckErrors uint64 // acks, naks, terms and dead-letter writes the server did not take
	Forwarded uint64 // jobs forwarded to another queue
}

type counters struct {
	completed, retried, dead, panics, released, ackErrors, forwarded atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Completed: c.completed.Load(),
		Retried:   c.retried.Load(),
		Dead:      c.dead.Load(),
		Panics:    c.panics.Load(),
		Released:  c.released.Load(),
		AckErrors: c.ackErrors.Load(),
		Forwarded: c.forwarded.Load(),
	}
}

// Held is how many jobs the pool holds now: delivered to it and not yet
// settled, running or waiting for a worker.
func (p *Pool) Held() int { return p.slots.held() }
