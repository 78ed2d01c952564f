package consumer

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkSlots asserts what slots keeps: filled+promised within the size,
// never a negative promise, every slot index free at most once.
func checkSlots(t *testing.T, s *slots) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	size := s.concurrency + s.prefetch
	require.GreaterOrEqual(t, s.promised, 0, "promised")
	require.LessOrEqual(t, s.promised, len(s.free), "promised beyond the free slots")
	require.LessOrEqual(t, len(s.free), size, "free")
	sorted := slices.Sorted(slices.Values(s.free))
	require.Equal(t, len(sorted), len(slices.Compact(slices.Clone(sorted))), "a slot free twice: %v", s.free)
	for _, i := range s.free {
		require.True(t, i >= 0 && i < size, "slot %d out of range", i)
	}
}

func TestSlotsPromiseOnlyFreeUnpromisedSlots(t *testing.T) {
	s := newSlots(4, 8)
	assert.Equal(t, 12, s.promise(8), "all of them when everything is wanted ahead")
	assert.Equal(t, 0, s.promise(8), "nothing left to promise")
	for range 12 {
		s.fill()
	}
	assert.Equal(t, 12, s.held())
	assert.Equal(t, 0, s.promise(8), "all filled")
	checkSlots(t, s)
}

func TestSlotsFillFromSlotZero(t *testing.T) {
	s := newSlots(2, 2)
	require.Equal(t, 4, s.promise(2))
	assert.Equal(t, []int{0, 1, 2, 3}, []int{s.fill(), s.fill(), s.fill(), s.fill()})
}

func TestSlotsKeepBackThePrefetchNotWantedAhead(t *testing.T) {
	s := newSlots(4, 8)
	// Wanting 2 ahead, 6 of the 8 prefetch slots are kept back.
	assert.Equal(t, 6, s.promise(2))
	// Now 6 remain unpromised, all kept back.
	assert.Equal(t, 0, s.promise(2))
	// Wanting all 8 ahead frees the 6 for a pull.
	assert.Equal(t, 6, s.promise(8))
	checkSlots(t, s)
}

func TestSlotsOpenNoPullSmallerThanWorthIt(t *testing.T) {
	s := newSlots(8, 8)
	// Worth a pull: at least min(ahead, (8+ahead)/4) = 4 slots.
	require.Equal(t, 16, s.promise(8))
	for range 16 {
		s.fill()
	}
	for i := range 3 {
		assert.False(t, s.vacate(i, 8), "%d free slots are not worth a pull", i+1)
	}
	assert.Equal(t, 0, s.promise(8))
	assert.True(t, s.vacate(3, 8), "4 free slots are worth a pull")
	assert.Equal(t, 4, s.promise(8))
	assert.Equal(t, 12, s.held())
	checkSlots(t, s)
}

func TestSlotsUnpromisedSlotsCanBePromisedAgain(t *testing.T) {
	s := newSlots(4, 4)
	n := s.promise(4)
	require.Equal(t, 8, n)
	s.fill()
	s.fill()
	s.unpromise(n - 2) // the pull ended after delivering 2
	assert.Equal(t, 2, s.held())
	assert.Equal(t, 6, s.promise(4), "the 6 undelivered slots again")
	checkSlots(t, s)
}

// TestSlotsModelledByPulls runs random pulls, deliveries, settlements and
// pull endings against a model of the counts, checking the bound at
// every step.
func TestSlotsModelledByPulls(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const concurrency, prefetch = 3, 5
	s := newSlots(concurrency, prefetch)
	var (
		pulls  []int // promises each open pull has not yet filled
		filled []int // slots holding a job
	)
	for step := range 5000 {
		ahead := 1 + rng.IntN(prefetch)
		switch op := rng.IntN(4); {
		case op == 0:
			if n := s.promise(ahead); n > 0 {
				pulls = append(pulls, n)
			}
		case op == 1 && len(pulls) > 0: // a pull delivers a job
			k := rng.IntN(len(pulls))
			i := s.fill()
			require.NotContains(t, filled, i, "step %d: slot %d filled twice", step, i)
			filled = append(filled, i)
			if pulls[k]--; pulls[k] == 0 {
				pulls = slices.Delete(pulls, k, k+1)
			}
		case op == 2 && len(filled) > 0: // a job is settled
			k := rng.IntN(len(filled))
			s.vacate(filled[k], ahead)
			filled = slices.Delete(filled, k, k+1)
		case op == 3 && len(pulls) > 0: // a pull ends early
			k := rng.IntN(len(pulls))
			s.unpromise(pulls[k])
			pulls = slices.Delete(pulls, k, k+1)
		}
		promised := 0
		for _, n := range pulls {
			promised += n
		}
		require.Equal(t, len(filled), s.held(), "step %d", step)
		require.LessOrEqual(t, len(filled)+promised, concurrency+prefetch, "step %d: over the bound", step)
		checkSlots(t, s)
	}
}

// TestSlotsUnderConcurrentPullsAndWorkers fills and vacates from many
// goroutines, as pulls and workers do, and checks that no more jobs are
// ever held than there are slots.
func TestSlotsUnderConcurrentPullsAndWorkers(t *testing.T) {
	const concurrency, prefetch, jobs = 4, 12, 5000
	s := newSlots(concurrency, prefetch)
	work := make(chan int, concurrency+prefetch)
	var (
		delivered, peak atomic.Int64
		wg              sync.WaitGroup
		holding         atomic.Int64
	)
	for range concurrency {
		wg.Go(func() {
			for i := range work {
				holding.Add(-1)
				s.vacate(i, prefetch)
			}
		})
	}
	var pulls sync.WaitGroup
	for delivered.Load() < jobs {
		n := s.promise(prefetch)
		if n == 0 {
			runtime.Gosched() // wait for a worker to vacate slots
			continue
		}
		pulls.Go(func() {
			got := 0
			for ; got < n && delivered.Add(1) <= jobs; got++ {
				h := holding.Add(1)
				for old := peak.Load(); h > old && !peak.CompareAndSwap(old, h); old = peak.Load() {
				}
				work <- s.fill()
			}
			s.unpromise(n - got)
		})
	}
	pulls.Wait()
	close(work)
	wg.Wait()
	assert.Equal(t, 0, s.held())
	assert.LessOrEqual(t, peak.Load(), int64(concurrency+prefetch))
	checkSlots(t, s)
	s.mu.Lock()
	defer s.mu.Unlock()
	assert.Equal(t, 0, s.promised)
	assert.Len(t, s.free, concurrency+prefetch)
}
