// Package manifest keeps the record of a batch in the batch bucket: the
// whole record, writer fields included, and the compare-and-set update that
// enqueues and waits make to it. Package batch shows readers the part they
// need; package producer writes the rest while it publishes.
package manifest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/internal/kvcas"
	"github.com/jetpool/jetpool/internal/retry"
	"github.com/jetpool/jetpool/topology"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrNotFound is returned for a batch that has no manifest.
var ErrNotFound = errors.New("batch not found")

// Manifest is what the batch bucket records of a batch. It stays a few
// hundred bytes whatever the batch's size: a batch's input is an ordered
// list of jobs, and the manifest records how far that list is stored, not
// the IDs in it. docs/batches.md explains the fields.
type Manifest struct {
	ID    string `json:"id"`
	Queue string `json:"queue"`
	// Expected is the number of distinct jobs of the batch that JetStream
	// stored: Settled, plus len(Stored), plus Singles.
	Expected int       `json:"expected"`
	Created  time.Time `json:"created"`
	// Sealed is false while a producer is still publishing the batch.
	Sealed bool `json:"sealed"`

	// Settled is the length of the input's prefix whose jobs are all stored.
	Settled int `json:"settled"`
	// Stored lists input positions beyond Settled whose jobs are stored.
	Stored []int `json:"stored,omitempty"`
	// Unsure lists input positions beyond Settled that were published but
	// never acknowledged: JetStream may or may not hold them.
	Unsure []int `json:"unsure,omitempty"`
	// Extent is how much of the input has touched the batch, and Digest
	// identifies the job IDs of that part (FNV-1a); a re-run must present
	// the same IDs there.
	Extent int    `json:"extent,omitempty"`
	Digest string `json:"digest,omitempty"`
	// Writing is set while an enqueue publishes the batch; after a crash it
	// tells the next run which positions may have been published.
	Writing *Writing `json:"writing,omitempty"`
	// Failed counts the input positions the last enqueue could not store.
	Failed int `json:"failed,omitempty"`
	// MayRepeat counts jobs that a re-run published again although an
	// earlier publish of theirs may have been stored and processed.
	MayRepeat int `json:"may_repeat,omitempty"`
	// Singles counts jobs added one at a time to the batch.
	Singles int `json:"singles,omitempty"`

	Finished *time.Time `json:"finished,omitempty"`
	// Report is the batch's final report (a batch.Report in JSON), recorded
	// once the batch is done so that later reconciles need no snapshot.
	Report json.RawMessage `json:"report,omitempty"`

	// Ops names the last updates applied, so that an update whose reply
	// was lost is not applied twice when it is sent again.
	Ops []string `json:"ops,omitempty"`
}

// keptOps is how many update IDs a manifest remembers.
const keptOps = 16

// Writing describes the enqueue that is publishing a batch.
type Writing struct {
	// Owner identifies the enqueue; another one that claims the batch
	// replaces it, and the first stops at its next manifest update.
	Owner string `json:"owner"`
	// Until is the end of the input positions it may publish before it
	// records its progress again.
	Until int       `json:"until"`
	Since time.Time `json:"since"`
}

// Store reads and updates manifests, opening the batch bucket and the work
// and dead-letter streams once they exist. It is safe for concurrent use.
type Store struct {
	js             jetstream.JetStream
	names          jetpool.Names
	provision      bool
	requestTimeout time.Duration
	log            *slog.Logger

	mu      sync.Mutex
	batches jetstream.KeyValue
	work    jetstream.Stream
	dead    jetstream.Stream
	waiting topology.WaitLog // rate-limits the log while the topology is missing
}

// NewStore returns a store on js under names. With provision it creates the
// streams and buckets when missing; otherwise it waits for them, logging
// what is missing. Each request is bounded by requestTimeout and sent again
// on transient errors until the call's context ends.
func NewStore(js jetstream.JetStream, names jetpool.Names, provision bool, requestTimeout time.Duration, log *slog.Logger) *Store {
	return &Store{js: js, names: names, provision: provision, requestTimeout: requestTimeout, log: log}
}

// Names returns the names the store reads under.
func (s *Store) Names() jetpool.Names { return s.names }

// RequestTimeout returns the deadline of each request.
func (s *Store) RequestTimeout() time.Duration { return s.requestTimeout }

// Bucket opens the batch bucket once the work and dead-letter streams and
// the bucket exist, waiting for them (or, with provision, creating what is
// missing) until ctx ends.
func (s *Store) Bucket(ctx context.Context) (jetstream.KeyValue, error) {
	s.mu.Lock()
	kv := s.batches
	s.mu.Unlock()
	if kv != nil {
		return kv, nil
	}
	err := s.await(ctx, func(ctx context.Context) (err error) {
		if _, _, err = topology.OpenStreams(ctx, s.js, s.names); err != nil {
			return err
		}
		kv, err = topology.OpenBatches(ctx, s.js, s.names)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.batches == nil {
		s.batches = kv
	}
	return s.batches, nil
}

// Streams opens the work and dead-letter streams, waiting for them (or,
// with provision, creating what is missing) until ctx ends.
func (s *Store) Streams(ctx context.Context) (work, dead jetstream.Stream, err error) {
	s.mu.Lock()
	work, dead = s.work, s.dead
	s.mu.Unlock()
	if work != nil && dead != nil {
		return work, dead, nil
	}
	err = s.await(ctx, func(ctx context.Context) (err error) {
		work, dead, err = topology.OpenStreams(ctx, s.js, s.names)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.work == nil {
		s.work, s.dead = work, dead
	}
	return s.work, s.dead, nil
}

// CachedWork returns the work stream's last known configuration, nil before
// Streams first opened it.
func (s *Store) CachedWork() *jetstream.StreamConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.work == nil {
		return nil
	}
	return &s.work.CachedInfo().Config
}

func (s *Store) await(ctx context.Context, open func(context.Context) error) error {
	if s.provision {
		if err := topology.CreateMissing(ctx, s.js, topology.Options{Names: s.names}); err != nil {
			return err
		}
	}
	w := topology.Waiter{Logger: s.log, Hint: `run "jetpool provision QUEUE"`, Log: &s.waiting}
	return w.Wait(ctx, open)
}

// Get reads the manifest of batch, riding out transient errors.
func (s *Store) Get(ctx context.Context, batch string) (*Manifest, error) {
	var m *Manifest
	err := retry.Do(ctx, s.requestTimeout, func(rctx context.Context) (err error) {
		m, _, err = s.Read(rctx, batch)
		return err
	})
	return m, err
}

// Read reads the manifest of batch and its revision, once.
func (s *Store) Read(ctx context.Context, batch string) (*Manifest, uint64, error) {
	kv, err := s.Bucket(ctx)
	if err != nil {
		return nil, 0, err
	}
	e, err := kv.Get(ctx, batch)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, batch)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read manifest of batch %s: %w", batch, err)
	}
	var m Manifest
	if err := json.Unmarshal(e.Value(), &m); err != nil {
		return nil, 0, fmt.Errorf("manifest of batch %s is corrupt: %w", batch, err)
	}
	return &m, e.Revision(), nil
}

// Update applies change to the manifest of batch, creating it from fresh
// when missing and queue is given, and retries when another process
// updated it at the same time or the cluster did not answer. change may
// return an error to abandon the update.
func (s *Store) Update(ctx context.Context, batch, queue string, change func(*Manifest) error) (*Manifest, error) {
	w, err := s.UpdateFrom(ctx, batch, queue, nil, jetpool.NewID(), change)
	if err != nil {
		return nil, err
	}
	return w.M, nil
}

// Written is a manifest as this process last wrote it.
type Written struct {
	M    *Manifest
	data []byte // M encoded, never changed
	Rev  uint64
}

// UpdateFrom is Update that first tries last, the manifest as this process
// last wrote it, without reading it again: a writer that owns the batch
// saves a round trip per update. When the manifest changed since, the
// update fails its compare-and-set and is made again on the manifest read
// afresh. op names the update in the manifest's Ops, so that it is applied
// once however often it is sent.
func (s *Store) UpdateFrom(ctx context.Context, batch, queue string, last *Written, op string, change func(*Manifest) error) (*Written, error) {
	var out *Written
	err := retry.Do(ctx, s.requestTimeout, func(rctx context.Context) error {
		kv, err := s.Bucket(rctx)
		if err != nil {
			return err
		}
		var m *Manifest
		var rev uint64
		if last != nil {
			m, rev = new(Manifest), last.Rev
			err = json.Unmarshal(last.data, m)
			last = nil // once: a retry reads the manifest
		} else {
			m, rev, err = s.Read(rctx, batch)
		}
		if errors.Is(err, ErrNotFound) && queue != "" {
			m, rev, err = &Manifest{ID: batch, Queue: queue, Created: time.Now().UTC(), Sealed: true}, 0, nil
		}
		if err != nil {
			return err
		}
		if slices.Contains(m.Ops, op) {
			out = &Written{M: m, Rev: rev} // an earlier attempt was applied; its reply was lost
			out.data, _ = json.Marshal(m)
			return nil
		}
		if err := change(m); err != nil {
			return err
		}
		m.Ops = append(m.Ops, op)
		if len(m.Ops) > keptOps {
			m.Ops = m.Ops[len(m.Ops)-keptOps:]
		}
		data, _ := json.Marshal(m)
		if rev == 0 {
			rev, err = kv.Create(rctx, batch, data)
		} else {
			rev, err = kv.Update(rctx, batch, data, rev)
		}
		if err == nil {
			out = &Written{M: m, data: data, Rev: rev}
			return nil
		}
		if kvcas.Conflict(err) {
			return retry.ErrConflict // read the manifest again
		}
		return fmt.Errorf("update manifest of batch %s: %w", batch, err)
	})
	return out, err
}
