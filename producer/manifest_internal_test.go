package producer

import (
	"context"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An update made from the manifest as this process last wrote it must not
// overwrite what another process wrote since: its compare-and-set fails and
// it is made again on the manifest read afresh.
func TestUpdateFromAStaleManifestKeepsOthersChanges(t *testing.T) {
	env := natstest.Start(t)
	p, err := New(env.JS, Options{Provision: true, Logger: env.Log})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	first, err := p.updateManifestFrom(ctx, "b", "q", nil, func(m *Manifest) error { m.Settled = 1; return nil })
	require.NoError(t, err)
	// Another producer adds a job to the batch meanwhile.
	_, err = p.updateManifest(ctx, "b", "", func(m *Manifest) error { m.Singles++; return nil })
	require.NoError(t, err)

	second, err := p.updateManifestFrom(ctx, "b", "", first, func(m *Manifest) error { m.Settled = 2; return nil })
	require.NoError(t, err)
	got, rev, err := p.readManifest(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, 2, got.Settled)
	assert.Equal(t, 1, got.Singles, "the other producer's change survived")
	assert.Equal(t, rev, second.rev)

	// From its own last write, nothing changed since: written as it is.
	third, err := p.updateManifestFrom(ctx, "b", "", second, func(m *Manifest) error { m.Settled = 3; return nil })
	require.NoError(t, err)
	got, rev, err = p.readManifest(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, 3, got.Settled)
	assert.Equal(t, 1, got.Singles)
	assert.Equal(t, rev, third.rev)
	assert.Len(t, got.Ops, 4, "each update applied once")
}
