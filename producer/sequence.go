package producer

import (
	"fmt"
	"github.com/jetpool/jetpool/batch"
	"github.com/jetpool/jetpool/internal/manifest"
	"slices"
	"strconv"
	"time"
)

// checkpointEvery is how many input positions an enqueue may publish
// beyond its last recorded progress. It bounds the jobs whose fate a
// re-run cannot tell after a producer crash (see docs/batches.md).
const checkpointEvery = 1024

// checkpointLead is how many positions before its limit an enqueue starts
// recording its progress, so that publishing rarely waits for the manifest.
const checkpointLead = 512

// posState is where one input position of a batch stands during an enqueue.
type posState uint8

const (
	posTodo   posState = iota // to publish
	posSkip                   // stored by an earlier enqueue: not published again
	posStored                 // stored now
	posFailed                 // refused or never sent: not stored
	posUnsure                 // sent, never acknowledged: may be stored
)

// sequence is one enqueue's view of a batch's input: the state of every
// position, and what it records in the manifest.
type sequence struct {
	owner string
	ids   []string
	state []posState
	// retried marks positions an earlier enqueue may have stored without
	// knowing: publishing them again may run them twice.
	retried map[int]bool
	// oldStored are positions beyond the prefix stored by earlier enqueues.
	oldStored []int

	settled int // every position below is stored
	until   int // positions below may be published
	hi      int // one past the highest position published now
	base    int // the manifest's Extent before this enqueue

	hash   uint64 // FNV-1a of ids[:hashed]
	hashed int
}

// digest identifies the job IDs of the first n positions. It hashes
// onwards from the last call, so a growing n costs only the new IDs.
func (s *sequence) digest(n int) string {
	if s.hashed == 0 || n < s.hashed {
		s.hash, s.hashed = fnvOffset, 0
	}
	for _, id := range s.ids[s.hashed:n] {
		s.hash = fnvAdd(s.hash, id)
	}
	s.hashed = n
	return strconv.FormatUint(s.hash, 16)
}

// FNV-1a, 64 bits (hash/fnv's New64a), computed inline: hashing through
// the hash.Hash interface cost an allocation per job ID.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnvAdd hashes id and a NUL byte after it into h.
func fnvAdd(h uint64, id string) uint64 {
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= fnvPrime
	}
	return h * fnvPrime // the NUL byte: h ^= 0, then h *= fnvPrime
}

// resume checks that the input matches what the manifest records of the
// batch, marks what earlier enqueues stored or may have stored, and claims
// the batch for this enqueue.
func (s *sequence) resume(m *manifest.Manifest) error {
	n := len(s.ids)
	if m.Extent > 0 {
		if n < m.Extent {
			return fmt.Errorf("%w: batch %s holds jobs from %d input positions but this input has %d: re-run with the same input, or use a new batch ID",
				ErrBatchMismatch, m.ID, m.Extent, n)
		}
		if s.digest(m.Extent) != m.Digest {
			return fmt.Errorf("%w: the first %d job IDs of this input differ from those batch %s was enqueued with: re-run with the same input, or use a new batch ID",
				ErrBatchMismatch, m.Extent, m.ID)
		}
	}
	s.state = make([]posState, n)
	s.retried = map[int]bool{}
	s.oldStored = nil
	s.settled = min(m.Settled, n)
	for i := range s.settled {
		s.state[i] = posSkip
	}
	for _, i := range m.Stored {
		if i >= s.settled && i < n {
			s.state[i] = posSkip
			s.oldStored = append(s.oldStored, i)
		}
	}
	for _, i := range m.Unsure {
		if i < n && s.state[i] == posTodo {
			s.retried[i] = true
		}
	}
	if w := m.Writing; w != nil {
		// An enqueue was publishing (it crashed, or still runs and is
		// being replaced): anything it may have sent is uncertain.
		for i := s.settled; i < min(w.Until, n); i++ {
			if s.state[i] == posTodo {
				s.retried[i] = true
			}
		}
	}
	s.base = m.Extent
	s.advance()
	s.until = min(n, s.settled+checkpointEvery)
	s.record(m, true)
	return nil
}

// advance moves settled past every stored position.
func (s *sequence) advance() {
	for s.settled < len(s.state) && (s.state[s.settled] == posSkip || s.state[s.settled] == posStored) {
		s.settled++
	}
}

// record writes this enqueue's progress into m. While writing, the
// manifest claims the positions up to until for this enqueue.
func (s *sequence) record(m *manifest.Manifest, writing bool) {
	s.progress(writing, s.until).apply(m)
}

// progress is what an enqueue records of its progress in the manifest,
// taken at one moment so that it can be written while publishing goes on.
type progress struct {
	owner          string
	settled        int
	stored, unsure []int
	extent         int
	digest         string
	writing        bool // still publishing: claims the positions up to until
	until          int
}

// progress takes this enqueue's progress, claiming the positions up to
// until while writing.
func (s *sequence) progress(writing bool, until int) progress {
	s.advance()
	var stored, unsure []int
	for _, i := range s.oldStored {
		if i >= s.settled {
			stored = append(stored, i)
		}
	}
	for i := s.settled; i < s.hi; i++ {
		switch s.state[i] {
		case posStored:
			stored = append(stored, i)
		case posUnsure:
			unsure = append(unsure, i)
		}
	}
	for i := range s.retried {
		if i >= s.hi && s.state[i] == posTodo {
			unsure = append(unsure, i) // not reached again: still uncertain
		}
	}
	slices.Sort(stored)
	stored = slices.Compact(stored)
	slices.Sort(unsure)
	pr := progress{owner: s.owner, settled: s.settled, stored: stored, unsure: unsure, writing: writing}
	if writing {
		pr.until = until
		pr.extent = max(s.base, s.settled, until)
	} else {
		pr.extent = max(s.base, s.settled, s.hi)
	}
	pr.digest = s.digest(pr.extent)
	return pr
}

// apply writes pr into m.
func (pr progress) apply(m *manifest.Manifest) {
	m.Settled, m.Stored, m.Unsure = pr.settled, pr.stored, pr.unsure
	m.Expected = m.Settled + len(m.Stored) + m.Singles
	m.Report, m.Finished = nil, nil
	m.Extent, m.Digest = pr.extent, pr.digest
	if pr.writing {
		m.Sealed = false
		m.Writing = &manifest.Writing{Owner: pr.owner, Until: pr.until, Since: time.Now().UTC()}
		return
	}
	m.Sealed = true
	m.Writing = nil
}

// owns checks that m still names this enqueue as its writer.
func (s *sequence) owns(m *manifest.Manifest) error {
	if m.Writing == nil || m.Writing.Owner != s.owner {
		return fmt.Errorf("%w: batch %s", batch.ErrTakenOver, m.ID)
	}
	return nil
}
