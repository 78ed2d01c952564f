package producer

import "sync/atomic"

// Stats counts what a producer did since it was made.
type Stats struct {
	Enqueued  uint64 // jobs JetStream stored
	Repeated  uint64 // jobs already part of their batch, not stored again
	Failed    uint64 // jobs JetStream did not acknowledge
	MayRepeat uint64 // jobs published again that may run twice
	Batches   uint64 // EnqueueBatch calls that stored every job
}

type stats struct {
	enqueued, repeated, failed, mayRepeat, batches atomic.Uint64
}

// Stats returns the producer's counters so far.
func (p *Producer) Stats() Stats {
	return Stats{
		Enqueued:  p.stats.enqueued.Load(),
		Repeated:  p.stats.repeated.Load(),
		Failed:    p.stats.failed.Load(),
		MayRepeat: p.stats.mayRepeat.Load(),
		Batches:   p.stats.batches.Load(),
	}
}

// count adds a batch enqueue's outcome to the counters.
func (s *stats) count(b *Batch, complete bool) {
	s.enqueued.Add(uint64(b.Enqueued))
	s.repeated.Add(uint64(b.Repeated))
	s.failed.Add(uint64(len(b.Failed)))
	s.mayRepeat.Add(uint64(b.MayRepeat))
	if complete {
		s.batches.Add(1)
	}
}
