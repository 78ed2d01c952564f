package cli

import (
	"context"
	"sync"

	"github.com/jetpool/jetpool"
)

// runningJobs counts the jobs a queue's handlers run now and keeps their
// IDs, which the worker registry announces so that `job show` can say
// which worker runs a job.
type runningJobs struct {
	h  jetpool.Handler
	mu sync.Mutex
	// ids counts runs per job ID: a job redelivered to this process while
	// its first run lasts runs twice here.
	ids map[string]int
	n   int
}

func newRunningJobs(h jetpool.Handler) *runningJobs {
	return &runningJobs{h: h, ids: map[string]int{}}
}

// Handle runs the job under h, listed as running meanwhile.
func (r *runningJobs) Handle(ctx context.Context, job *jetpool.Job) error {
	r.mu.Lock()
	r.ids[job.ID]++
	r.n++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		if r.ids[job.ID]--; r.ids[job.ID] <= 0 {
			delete(r.ids, job.ID)
		}
		r.n--
		r.mu.Unlock()
	}()
	return r.h.Handle(ctx, job)
}

// count is how many jobs run now.
func (r *runningJobs) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// jobs lists the IDs of the jobs running now.
func (r *runningJobs) jobs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.ids))
	for id := range r.ids {
		out = append(out, id)
	}
	return out
}
