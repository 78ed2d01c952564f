// Package registry keeps the list of live worker processes: each process
// announces itself in a key-value bucket whose entries expire after a TTL,
// so a process that crashed disappears from the list within that TTL.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/nats-io/nats.go/jetstream"
)

// announceEvery is the longest time between two announcements.
const announceEvery = 2 * time.Second

// Worker is what a worker process announces.
type Worker struct {
	ID          string `json:"id"`
	Queue       string `json:"queue"`
	Host        string `json:"host"`
	PID         int    `json:"pid"`
	Concurrency int    `json:"concurrency"` // slots: jobs it runs at once
	Running     int    `json:"running"`     // jobs running when it last announced
	// Jobs are the IDs of those jobs, when the process lists them.
	Jobs []string `json:"jobs,omitempty"`
	// Held is how many jobs it holds, running or waiting for a worker,
	// when the process counts them (nil when it does not).
	Held    *int   `json:"held,omitempty"`
	Version string `json:"version,omitempty"`
	// Completed counts the jobs it completed since it started, and
	// PerMinute is its rate over the last minute (or since it started).
	Completed uint64    `json:"completed"`
	PerMinute float64   `json:"per_minute"`
	Started   time.Time `json:"started"`
	LastSeen  time.Time `json:"last_seen"`
}

// Announcer keeps one worker process listed while it runs.
type Announcer struct {
	kv        jetstream.KeyValue
	w         Worker
	running   func() int
	jobs      func() []string
	held      func() int
	completed func() uint64
	samples   []sample // completed counts of the last minute, oldest first
	every     time.Duration
	log       *slog.Logger
}

// NewAnnouncer opens the worker bucket (it never creates it: provisioning
// does) and prepares w's announcements. running, when not nil, reports the
// jobs running now. The announcement is refreshed every 2 s, and at least
// three times per TTL.
func NewAnnouncer(ctx context.Context, js jetstream.JetStream, names jetpool.Names, w Worker, running func() int, log *slog.Logger) (*Announcer, error) {
	kv, err := js.KeyValue(ctx, names.WorkerBucket())
	if err != nil {
		return nil, fmt.Errorf("registry: open bucket %s: %w", names.WorkerBucket(), err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("registry: bucket %s: %w", names.WorkerBucket(), err)
	}
	if w.ID == "" {
		w.ID = jetpool.NewID()
	}
	if w.Host == "" {
		w.Host, _ = os.Hostname()
	}
	if w.PID == 0 {
		w.PID = os.Getpid()
	}
	if w.Started.IsZero() {
		w.Started = time.Now().UTC()
	}
	if log == nil {
		log = slog.Default()
	}
	// Often enough that status shows running jobs about as they are, and
	// at least three times per TTL.
	every := min(st.TTL()/3, announceEvery)
	if every <= 0 {
		every = announceEvery
	}
	return &Announcer{kv: kv, w: w, running: running, every: every, log: log}, nil
}

// sample is a completed count at a time.
type sample struct {
	at time.Time
	n  uint64
}

// rateWindow is the span a worker's per-minute rate is measured over.
const rateWindow = time.Minute

// CountCompleted makes the announcements carry the completed count f
// reports and the rate over the last minute. Call it before Run.
func (a *Announcer) CountCompleted(f func() uint64) { a.completed = f }

// CountHeld makes the announcements carry how many jobs the process holds,
// as f reports it. Call it before Run.
func (a *Announcer) CountHeld(f func() int) { a.held = f }

// ListJobs makes the announcements carry the IDs of the jobs running now,
// as f reports them. Call it before Run.
func (a *Announcer) ListJobs(f func() []string) { a.jobs = f }

// rate records n at now and returns the jobs per minute since the oldest
// sample of the last minute.
func (a *Announcer) rate(now time.Time, n uint64) float64 {
	a.samples = append(a.samples, sample{now, n})
	for len(a.samples) > 2 && now.Sub(a.samples[1].at) >= rateWindow {
		a.samples = a.samples[1:]
	}
	first := a.samples[0]
	span := now.Sub(first.at)
	if span <= 0 || n < first.n {
		return 0
	}
	return float64(n-first.n) / span.Minutes()
}

// key names a worker's entry: its queue, then its ID.
func key(w Worker) string { return w.Queue + "." + w.ID }

// Run announces the worker now and every third of the TTL until ctx ends,
// then removes it from the list.
func (a *Announcer) Run(ctx context.Context) {
	t := time.NewTicker(a.every)
	defer t.Stop()
	failing := false
	for {
		err := a.Announce(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			a.log.Warn("announcing this worker in the registry", "error", err)
			failing = true
		case err == nil:
			failing = false
		}
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = a.kv.Delete(dctx, key(a.w))
			cancel()
			return
		case <-t.C:
		}
	}
}

// Announce writes the worker's entry once; Run calls it periodically.
func (a *Announcer) Announce(ctx context.Context) error {
	w := a.w
	if a.running != nil {
		w.Running = a.running()
	}
	if a.held != nil {
		n := a.held()
		w.Held = &n
	}
	if a.jobs != nil {
		w.Jobs = a.jobs()
		sort.Strings(w.Jobs)
	}
	w.LastSeen = time.Now().UTC()
	if a.completed != nil {
		w.Completed = a.completed()
		w.PerMinute = a.rate(w.LastSeen, w.Completed)
	}
	data, _ := json.Marshal(w)
	ctx, cancel := context.WithTimeout(ctx, a.every)
	defer cancel()
	_, err := a.kv.Put(ctx, key(w), data)
	return err
}

// List returns the workers announced now, by queue then host and PID.
func List(ctx context.Context, js jetstream.JetStream, names jetpool.Names) ([]Worker, error) {
	kv, err := js.KeyValue(ctx, names.WorkerBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil // provisioned before the registry existed: nobody announces
	}
	if err != nil {
		return nil, fmt.Errorf("registry: open bucket %s: %w", names.WorkerBucket(), err)
	}
	keys, err := currentKeys(ctx, js, names.WorkerBucket())
	if err != nil {
		return nil, fmt.Errorf("registry: list workers: %w", err)
	}
	var out []Worker
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // gone meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("registry: read worker %s: %w", k, err)
		}
		var w Worker
		if json.Unmarshal(e.Value(), &w) == nil {
			out = append(out, w)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Queue != out[j].Queue {
			return out[i].Queue < out[j].Queue
		}
		if out[i].Host != out[j].Host {
			return out[i].Host < out[j].Host
		}
		return out[i].PID < out[j].PID
	})
	return out, nil
}

// currentKeys lists the keys of bucket from its stream's subjects, one
// consistent snapshot. (A key watcher, as ListKeys uses, can miss a key
// whose entry is replaced while it reads: workers replace theirs every
// few seconds.) Deleted keys are listed too; reading them finds nothing.
func currentKeys(ctx context.Context, js jetstream.JetStream, bucket string) ([]string, error) {
	s, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return nil, err
	}
	prefix := "$KV." + bucket + "."
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(info.State.Subjects))
	for subject := range info.State.Subjects {
		keys = append(keys, strings.TrimPrefix(subject, prefix))
	}
	return keys, nil
}
