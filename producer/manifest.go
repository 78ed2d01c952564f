package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/internal/kvcas"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrBatchNotFound is returned for a batch that has no manifest.
var ErrBatchNotFound = errors.New("batch not found")

// ErrTakenOver is returned by an enqueue of a batch whose manifest another
// enqueue of the same batch claimed meanwhile; the other one carries on.
var ErrTakenOver = errors.New("batch taken over by another enqueue")

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
	// Singles counts jobs added one at a time with WithBatch.
	Singles int `json:"singles,omitempty"`

	Finished *time.Time `json:"finished,omitempty"`
	Report   *Report    `json:"report,omitempty"`

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

// Manifest reads the manifest of batch.
func (p *Producer) Manifest(ctx context.Context, batch string) (*Manifest, error) {
	ctx, cancel := p.withTimeout(ctx)
	defer cancel()
	var m *Manifest
	err := retry(ctx, p.opts.RequestTimeout, func(ctx context.Context) (err error) {
		m, _, err = p.readManifest(ctx, batch)
		return err
	})
	return m, err
}

func (p *Producer) readManifest(ctx context.Context, batch string) (*Manifest, uint64, error) {
	kv, err := p.batchBucket(ctx)
	if err != nil {
		return nil, 0, err
	}
	e, err := kv.Get(ctx, batch)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("%w: %s", ErrBatchNotFound, batch)
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

// updateManifest applies change to the manifest of batch, creating it from
// fresh when missing, and retries when another process updated it at the
// same time or the cluster did not answer. change may return an error to
// abandon the update.
func (p *Producer) updateManifest(ctx context.Context, batch, queue string, change func(*Manifest) error) (*Manifest, error) {
	w, err := p.updateManifestFrom(ctx, batch, queue, nil, jetpool.NewID(), change)
	if err != nil {
		return nil, err
	}
	return w.m, nil
}

// writtenManifest is a manifest as this process last wrote it.
type writtenManifest struct {
	m    *Manifest
	data []byte // m encoded, never changed
	rev  uint64
}

// updateManifestFrom is updateManifest that first tries last, the manifest
// as this process last wrote it, without reading it again: a writer that
// owns the batch saves a round trip per update. When the manifest changed
// since, the update fails its compare-and-set and is made again on the
// manifest read afresh. op names the update in the manifest's Ops, so that
// it is applied once however often it is sent.
func (p *Producer) updateManifestFrom(ctx context.Context, batch, queue string, last *writtenManifest, op string, change func(*Manifest) error) (*writtenManifest, error) {
	var out *writtenManifest
	err := retry(ctx, p.opts.RequestTimeout, func(rctx context.Context) error {
		kv, err := p.batchBucket(rctx)
		if err != nil {
			return err
		}
		var m *Manifest
		var rev uint64
		if last != nil {
			m, rev = new(Manifest), last.rev
			err = json.Unmarshal(last.data, m)
			last = nil // once: a retry reads the manifest
		} else {
			m, rev, err = p.readManifest(rctx, batch)
		}
		if errors.Is(err, ErrBatchNotFound) && queue != "" {
			m, rev, err = &Manifest{ID: batch, Queue: queue, Created: time.Now().UTC(), Sealed: true}, 0, nil
		}
		if err != nil {
			return err
		}
		if slices.Contains(m.Ops, op) {
			out = &writtenManifest{m: m, rev: rev} // an earlier attempt was applied; its reply was lost
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
			out = &writtenManifest{m: m, data: data, rev: rev}
			return nil
		}
		if conflict(err) {
			return errConflict
		}
		return fmt.Errorf("update manifest of batch %s: %w", batch, err)
	})
	return out, err
}

// errConflict makes retry read the manifest again after a concurrent update.
var errConflict = errors.New("manifest changed meanwhile")

func conflict(err error) bool { return kvcas.Conflict(err) }

// ReopenBatch forgets the recorded final report of batch, so that jobs
// re-entering it (a dead job retried) are reconciled anew.
func (p *Producer) ReopenBatch(ctx context.Context, batch string) error {
	ctx, cancel := p.withTimeout(ctx)
	defer cancel()
	_, err := p.updateManifest(ctx, batch, "", func(m *Manifest) error {
		m.Report, m.Finished = nil, nil
		return nil
	})
	return err
}
