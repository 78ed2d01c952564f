package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrBatchNotFound is returned for a batch that has no manifest.
var ErrBatchNotFound = errors.New("batch not found")

// Manifest is what the batch bucket records of a batch.
type Manifest struct {
	ID       string    `json:"id"`
	Queue    string    `json:"queue"`
	Expected int       `json:"expected"` // jobs JetStream acknowledged
	Created  time.Time `json:"created"`
	// Sealed is false while a producer is still publishing the batch.
	Sealed bool `json:"sealed"`
	// Uncertain lists jobs whose enqueue failed: a retry that finds one of
	// them already stored counts it then.
	Uncertain []string   `json:"uncertain,omitempty"`
	Finished  *time.Time `json:"finished,omitempty"`
	Report    *Report    `json:"report,omitempty"`
}

// Manifest reads the manifest of batch.
func (p *Producer) Manifest(ctx context.Context, batch string) (*Manifest, error) {
	ctx, cancel := p.withTimeout(ctx)
	defer cancel()
	m, _, err := p.readManifest(ctx, batch)
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

// createManifest creates the manifest of batch unless it exists. With sealed
// false, an existing manifest is unsealed too, since jobs are being added.
func (p *Producer) createManifest(ctx context.Context, batch, queue string, sealed bool) error {
	kv, err := p.batchBucket(ctx)
	if err != nil {
		return err
	}
	data, _ := json.Marshal(Manifest{ID: batch, Queue: queue, Created: time.Now().UTC(), Sealed: sealed})
	_, err = kv.Create(ctx, batch, data)
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, jetstream.ErrKeyExists):
		return fmt.Errorf("create manifest of batch %s: %w", batch, err)
	case sealed:
		return nil
	}
	// Jobs are being added to an existing batch: it is not done until they
	// are published.
	return p.updateManifest(ctx, batch, func(m *Manifest) {
		m.Sealed, m.Report, m.Finished = false, nil, nil
	})
}

// updateManifest applies change to the manifest of batch, retrying when
// another producer updated it at the same time.
func (p *Producer) updateManifest(ctx context.Context, batch string, change func(*Manifest)) error {
	kv, err := p.batchBucket(ctx)
	if err != nil {
		return err
	}
	for {
		m, rev, err := p.readManifest(ctx, batch)
		if err != nil {
			return err
		}
		change(m)
		data, _ := json.Marshal(m)
		_, err = kv.Update(ctx, batch, data, rev)
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			var apiErr *jetstream.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
				return fmt.Errorf("update manifest of batch %s: %w", batch, err)
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("update manifest of batch %s: %w", batch, ctx.Err())
		}
	}
}

// countInManifest adds accepted jobs to the manifest, and duplicates that
// an earlier enqueue had left uncertain; records new failures as uncertain;
// and seals the batch.
func (p *Producer) countInManifest(ctx context.Context, batch string, accepted int, duplicates, failed []string) error {
	return p.updateManifest(ctx, batch, func(m *Manifest) {
		uncertain := make(map[string]bool, len(m.Uncertain))
		for _, id := range m.Uncertain {
			uncertain[id] = true
		}
		for _, id := range duplicates {
			if uncertain[id] {
				delete(uncertain, id)
				accepted++
			}
		}
		for _, id := range failed {
			uncertain[id] = true
		}
		m.Uncertain = m.Uncertain[:0]
		for id := range uncertain {
			m.Uncertain = append(m.Uncertain, id)
		}
		slices.Sort(m.Uncertain)
		if accepted > 0 {
			m.Report, m.Finished = nil, nil
		}
		m.Expected += accepted
		m.Sealed = true
	})
}

// ReopenBatch forgets the recorded final report of batch, so that jobs
// re-entering it (a dead job retried) are reconciled anew.
func (p *Producer) ReopenBatch(ctx context.Context, batch string) error {
	ctx, cancel := p.withTimeout(ctx)
	defer cancel()
	return p.updateManifest(ctx, batch, func(m *Manifest) { m.Report, m.Finished = nil, nil })
}
