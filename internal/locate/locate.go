// Package locate finds where a job is now from its ID: waiting in the work
// stream, delivered to a worker and not yet acknowledged, dead-lettered, or
// no longer in the work stream. It reads stored messages directly, first
// those of the job's batch when its ID names one, then the whole stream, so
// it adds nothing to the enqueue and consume paths.
package locate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/dlq"
	"github.com/jetpool/jetpool/registry"
	"github.com/nats-io/nats.go/jetstream"
)

// State is where a job is.
type State string

// The states a job can be found in.
const (
	Pending  State = "pending"   // waiting for its first delivery
	InFlight State = "in_flight" // delivered, not acknowledged, and no live worker lists it as running: waiting in a worker, or for its retry
	Running  State = "running"   // a live worker runs it now (Location.Worker)
	Dead     State = "dead"      // in the dead-letter stream
	Gone     State = "gone"      // not in the work stream: completed, or never enqueued
)

// Location is where a job was found.
type Location struct {
	JobID string `json:"job_id"`
	State State  `json:"state"`
	Queue string `json:"queue,omitempty"`
	Batch string `json:"batch,omitempty"`
	// Seq is the job's sequence in the work stream, or its dead letter's in
	// the dead-letter stream.
	Seq      uint64    `json:"seq,omitempty"`
	Enqueued time.Time `json:"enqueued,omitzero"`
	// Delivered is true once a worker received the job; its attempts so
	// far are then at least one.
	Delivered bool `json:"delivered"`
	// Worker is the live worker process running the job (its Jobs list
	// left out).
	Worker *registry.Worker `json:"worker,omitempty"`
	// Letter is the dead letter of a dead job.
	Letter *dlq.Letter `json:"letter,omitempty"`
	// Scanned counts the messages read to find the job.
	Scanned int `json:"scanned"`
}

// Finder looks jobs up in one installation.
type Finder struct {
	js    jetstream.JetStream
	names jetpool.Names
	admin *dlq.Admin
}

// New returns a Finder for the installation names.
func New(js jetstream.JetStream, names jetpool.Names) (*Finder, error) {
	admin, err := dlq.New(js, dlq.Options{Names: names})
	if err != nil {
		return nil, err
	}
	return &Finder{js: js, names: names, admin: admin}, nil
}

// Find says where job id is now. It looks in the work stream first, then
// in the dead-letter stream: a job is dead-lettered before it leaves the
// work stream, so a job moving meanwhile is found in one or the other.
func (f *Finder) Find(ctx context.Context, id string) (*Location, error) {
	if err := jetpool.ValidateJobID(id); err != nil {
		return nil, err
	}
	loc := &Location{JobID: id, State: Gone}
	work, err := f.js.Stream(ctx, f.names.WorkStream())
	if err != nil {
		return nil, fmt.Errorf("open work stream %s: %w", f.names.WorkStream(), err)
	}
	batches := candidateBatches(id)
	m, err := f.scan(ctx, work, loc, batchFilters(batches, f.names.BatchFilter), f.names.JobsWildcard(), id)
	if err != nil {
		return nil, err
	}
	if m != nil {
		return loc, f.working(ctx, loc, m)
	}
	dead, err := f.js.Stream(ctx, f.names.DeadStream())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return loc, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open dead-letter stream %s: %w", f.names.DeadStream(), err)
	}
	m, err = f.scan(ctx, dead, loc, batchFilters(batches, f.names.DeadBatchFilter), f.names.DeadWildcard(), id)
	if err != nil || m == nil {
		return loc, err
	}
	l, err := f.admin.Letter(ctx, m.seq)
	if errors.Is(err, dlq.ErrNotFound) {
		return loc, nil // retried or purged meanwhile
	}
	if err != nil {
		return nil, err
	}
	loc.State, loc.Queue, loc.Batch, loc.Seq, loc.Letter, loc.Delivered = Dead, l.Queue, l.Batch, l.Seq, l, true
	return loc, nil
}

// working fills in a job found in the work stream: it was delivered when
// its queue's consumer has delivered its sequence (the work stream deletes
// a job once acknowledged, so it is delivered and not acknowledged).
func (f *Finder) working(ctx context.Context, loc *Location, m *found) error {
	loc.Seq, loc.Queue, loc.Batch, loc.Enqueued = m.seq, m.queue, m.batch, m.enqueued
	loc.State = Pending
	c, err := f.js.Consumer(ctx, f.names.WorkStream(), f.names.ConsumerName(m.queue))
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil // nobody consumes the queue: it waits
	}
	if err != nil {
		return fmt.Errorf("consumer of queue %s: %w", m.queue, err)
	}
	if c.CachedInfo().Delivered.Stream < m.seq {
		return nil
	}
	loc.State, loc.Delivered = InFlight, true
	workers, err := registry.List(ctx, f.js, f.names)
	if err != nil {
		return nil // which worker is a bonus: the state stands without it
	}
	for _, w := range workers {
		if w.Queue == m.queue && slices.Contains(w.Jobs, loc.JobID) {
			w.Jobs = nil
			loc.State, loc.Worker = Running, &w
			break
		}
	}
	return nil
}

// candidateBatches lists the batches id may belong to: enqueue names the
// jobs of a batch <batch>-<n> and a single job's batch after the job.
func candidateBatches(id string) []string {
	out := []string{id}
	if i := strings.LastIndexByte(id, '-'); i > 0 && i < len(id)-1 {
		out = append(out, id[:i])
	}
	return out
}

func batchFilters(batches []string, filter func(string) string) []string {
	out := make([]string, len(batches))
	for i, b := range batches {
		out[i] = filter(b)
	}
	return out
}
