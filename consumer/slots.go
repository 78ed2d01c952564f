package consumer

import "sync"

// slots counts the pool's Concurrency+Prefetch slots. It is what keeps the
// bound of DESIGN.md: a worker process never holds more unacked jobs than
// its concurrency plus a small prefetch.
//
// A slot is in one of three states: free, promised (free, and reserved for
// an open pull, which asks the server for exactly the slots promised to it)
// or filled (holding a job delivered and not yet settled). Jobs arrive only
// in promised slots, so filled+promised never exceeds the size, and a pull's
// reader never waits for a worker. Its methods are safe for concurrent use.
type slots struct {
	mu       sync.Mutex
	free     []int // indexes of the slots not filled, promised or not
	promised int   // how many of the free slots are promised to open pulls

	concurrency, prefetch int
}

// newSlots returns concurrency+prefetch free slots, slot 0 the first to fill.
func newSlots(concurrency, prefetch int) *slots {
	size := concurrency + prefetch
	s := &slots{free: make([]int, size), concurrency: concurrency, prefetch: prefetch}
	for i := range s.free {
		s.free[i] = size - 1 - i
	}
	return s
}

// roomLocked is how many slots a new pull may be promised now and the
// fewest worth a pull, when the pool wants ahead jobs beyond its running
// ones: the free slots not yet promised, less the Prefetch-ahead not wanted
// now. Call it with s.mu held.
func (s *slots) roomLocked(ahead int) (n, least int) {
	n = len(s.free) - s.promised - (s.prefetch - ahead)
	return n, max(1, min(ahead, (s.concurrency+ahead)/4))
}

// promise reserves for a new pull the slots it may fill, when there are at
// least the fewest worth a pull, and returns how many (0: open no pull).
// Only free slots not yet promised are promised, so filled+promised stays
// within the size.
func (s *slots) promise(ahead int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, least := s.roomLocked(ahead)
	if n < least {
		return 0
	}
	s.promised += n
	return n
}

// unpromise takes back n promises that a pull will not keep (it failed to
// open, or ended before delivering them all), so that the next pull may be
// promised those slots instead of the pool pulling less and less.
func (s *slots) unpromise(n int) {
	s.mu.Lock()
	s.promised -= n
	s.mu.Unlock()
}

// fill turns a slot promised to a pull into a filled one, for a job that
// pull delivered, and returns its index. It never waits: the promise made
// sure a slot is there, so the job is held, counted and heartbeated, from
// the moment it arrives (invariant 3).
func (s *slots) fill() int {
	s.mu.Lock()
	i := s.free[len(s.free)-1]
	s.free = s.free[:len(s.free)-1]
	s.promised--
	s.mu.Unlock()
	return i
}

// vacate frees slot i, whose job's final answer (ack, nak or term) has been
// sent, and reports whether a new pull is now worth opening. Called only
// after the answer is sent, it counts the job as held until the server may
// have settled it, so the unacked bound holds on the server's side too.
func (s *slots) vacate(i, ahead int) (pullWorthy bool) {
	s.mu.Lock()
	s.free = append(s.free, i)
	n, least := s.roomLocked(ahead)
	s.mu.Unlock()
	return n >= least
}

// held is how many slots are filled: the jobs delivered and not settled.
func (s *slots) held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.concurrency + s.prefetch - len(s.free)
}
