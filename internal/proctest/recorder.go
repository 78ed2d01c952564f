package proctest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Recorder is an HTTP endpoint that workers call through --http; it counts
// every job ID it sees, outside jetpool.
type Recorder struct {
	mu       sync.Mutex
	seen     map[string]int
	payloads []string
	lastAt   time.Time
	delay    time.Duration
	fail     func(payload string) bool
}

// NewRecorder starts a recorder that holds each job for delay, and returns
// it with its URL; it stops at the test's end.
func NewRecorder(t *testing.T, delay time.Duration) (*Recorder, string) {
	r := &Recorder{seen: map[string]int{}, delay: delay}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL
}

// ServeHTTP records one delivery, or answers 500 when the fail function
// says so for its payload.
func (r *Recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	time.Sleep(r.delay) // the handler's work: a duration, not a wait
	r.mu.Lock()
	fail := r.fail != nil && r.fail(string(body))
	if !fail {
		r.seen[req.Header.Get("Jetpool-Job-Id")]++
		r.payloads = append(r.payloads, string(body))
		r.lastAt = time.Now()
	}
	r.mu.Unlock()
	if fail {
		http.Error(w, "poison", http.StatusInternalServerError)
	}
}

// Count is how many distinct job IDs were recorded.
func (r *Recorder) Count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.seen) }

// Duplicates counts deliveries beyond the first of every job.
func (r *Recorder) Duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.seen {
		n += c - 1
	}
	return n
}

// Last is when the most recent job was recorded.
func (r *Recorder) Last() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.lastAt }

// Payloads returns the recorded payloads in the order they came.
func (r *Recorder) Payloads() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.payloads)
}

// SetFail makes the endpoint answer 500 to every payload f accepts (nil:
// none).
func (r *Recorder) SetFail(f func(string) bool) { r.mu.Lock(); r.fail = f; r.mu.Unlock() }

// Check logs lost and duplicated jobs among want and fails on any loss.
func (r *Recorder) Check(t *testing.T, want []string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	lost, dupes := 0, 0
	for _, id := range want {
		switch n := r.seen[id]; {
		case n == 0:
			lost++
		case n > 1:
			dupes += n - 1
		}
	}
	t.Logf("%d jobs: %d lost, %d duplicate deliveries", len(want), lost, dupes)
	assert.Zero(t, lost, "jobs lost")
}
