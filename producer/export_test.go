package producer

import (
	"context"

	"github.com/jetpool/jetpool/internal/manifest"
)

// Manifest reads the whole manifest of batch, writer fields included, for
// the tests of what an enqueue records.
func (p *Producer) Manifest(ctx context.Context, batch string) (*manifest.Manifest, error) {
	ctx, cancel := p.withTimeout(ctx)
	defer cancel()
	return p.store.Get(ctx, batch)
}
