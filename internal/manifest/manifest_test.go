package manifest

import (
	"context"
	"github.com/jetpool/jetpool"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testStore is a store on a fresh embedded broker, with a context for the
// test's calls.
func testStore(t *testing.T) (*Store, context.Context) {
	env := natstest.Start(t)
	s := NewStore(env.JS, jetpool.DefaultNames(), true, 2*time.Second, env.Log)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return s, ctx
}

// An update made from the manifest as this process last wrote it must not
// overwrite what another process wrote since: its compare-and-set fails and
// it is made again on the manifest read afresh.
func TestUpdateFromAStaleManifestKeepsOthersChanges(t *testing.T) {
	s, ctx := testStore(t)

	first, err := s.UpdateFrom(ctx, "b", "q", nil, jetpool.NewID(), func(m *Manifest) error { m.Settled = 1; return nil })
	require.NoError(t, err)
	// Another producer adds a job to the batch meanwhile.
	_, err = s.Update(ctx, "b", "", func(m *Manifest) error { m.Singles++; return nil })
	require.NoError(t, err)

	second, err := s.UpdateFrom(ctx, "b", "", first, jetpool.NewID(), func(m *Manifest) error { m.Settled = 2; return nil })
	require.NoError(t, err)
	got, rev, err := s.Read(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, 2, got.Settled)
	assert.Equal(t, 1, got.Singles, "the other producer's change survived")
	assert.Equal(t, rev, second.Rev)

	// From its own last write, nothing changed since: written as it is.
	third, err := s.UpdateFrom(ctx, "b", "", second, jetpool.NewID(), func(m *Manifest) error { m.Settled = 3; return nil })
	require.NoError(t, err)
	got, rev, err = s.Read(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, 3, got.Settled)
	assert.Equal(t, 1, got.Singles)
	assert.Equal(t, rev, third.Rev)
	assert.Len(t, got.Ops, 4, "each update applied once")
}

// An update sent again after its answer was lost is applied once, also when
// it starts from the manifest as it was before the first send.
func TestUpdateSentAgainIsAppliedOnce(t *testing.T) {
	s, ctx := testStore(t)

	before, err := s.UpdateFrom(ctx, "b", "q", nil, jetpool.NewID(), func(*Manifest) error { return nil })
	require.NoError(t, err)
	op := jetpool.NewID()
	addOne := func(m *Manifest) error { m.MayRepeat++; return nil }
	_, err = s.UpdateFrom(ctx, "b", "", before, op, addOne)
	require.NoError(t, err)
	again, err := s.UpdateFrom(ctx, "b", "", before, op, addOne) // its answer was lost
	require.NoError(t, err)
	assert.Equal(t, 1, again.M.MayRepeat)
	got, _, err := s.Read(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, 1, got.MayRepeat, "applied once")
}
