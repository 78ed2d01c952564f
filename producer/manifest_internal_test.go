package producer

import (
	"context"
	"github.com/jetpool/jetpool"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// manifestTestProducer is a producer on a fresh embedded broker, with a
// context for the test's calls.
func manifestTestProducer(t *testing.T) (*Producer, context.Context) {
	env := natstest.Start(t)
	p, err := New(env.JS, Options{Provision: true, Logger: env.Log})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return p, ctx
}

// An update made from the manifest as this process last wrote it must not
// overwrite what another process wrote since: its compare-and-set fails and
// it is made again on the manifest read afresh.
func TestUpdateFromAStaleManifestKeepsOthersChanges(t *testing.T) {
	p, ctx := manifestTestProducer(t)

	first, err := p.updateManifestFrom(ctx, "b", "q", nil, jetpool.NewID(), func(m *Manifest) error { m.Settled = 1; return nil })
	require.NoError(t, err)
	// Another producer adds a job to the batch meanwhile.
	_, err = p.updateManifest(ctx, "b", "", func(m *Manifest) error { m.Singles++; return nil })
	require.NoError(t, err)

	second, err := p.updateManifestFrom(ctx, "b", "", first, jetpool.NewID(), func(m *Manifest) error { m.Settled = 2; return nil })
	require.NoError(t, err)
	got, rev, err := p.readManifest(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, 2, got.Settled)
	assert.Equal(t, 1, got.Singles, "the other producer's change survived")
	assert.Equal(t, rev, second.rev)

	// From its own last write, nothing changed since: written as it is.
	third, err := p.updateManifestFrom(ctx, "b", "", second, jetpool.NewID(), func(m *Manifest) error { m.Settled = 3; return nil })
	require.NoError(t, err)
	got, rev, err = p.readManifest(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, 3, got.Settled)
	assert.Equal(t, 1, got.Singles)
	assert.Equal(t, rev, third.rev)
	assert.Len(t, got.Ops, 4, "each update applied once")
}

// An update sent again after its answer was lost is applied once, also when
// it starts from the manifest as it was before the first send.
func TestUpdateSentAgainIsAppliedOnce(t *testing.T) {
	p, ctx := manifestTestProducer(t)

	before, err := p.updateManifestFrom(ctx, "b", "q", nil, jetpool.NewID(), func(*Manifest) error { return nil })
	require.NoError(t, err)
	op := jetpool.NewID()
	addOne := func(m *Manifest) error { m.MayRepeat++; return nil }
	_, err = p.updateManifestFrom(ctx, "b", "", before, op, addOne)
	require.NoError(t, err)
	again, err := p.updateManifestFrom(ctx, "b", "", before, op, addOne) // its answer was lost
	require.NoError(t, err)
	assert.Equal(t, 1, again.m.MayRepeat)
	got, _, err := p.readManifest(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, 1, got.MayRepeat, "applied once")
}

// A checkpoint whose answer never came may have been written: the end of
// the enqueue counts its may_repeat once, whichever way it went.
func TestMayRepeatOfAnUnconfirmedCheckpointIsCountedOnce(t *testing.T) {
	w := &window{mayRepeatRecorded: 3, unconfirmed: &checkpointWrite{op: "cp", mayRepeat: 7}}
	assert.Equal(t, 7, w.mayRepeatIn(&Manifest{Ops: []string{"x", "cp"}}), "written after all")
	assert.Equal(t, 3, w.mayRepeatIn(&Manifest{Ops: []string{"x"}}), "never written")
	w.unconfirmed = nil
	assert.Equal(t, 3, w.mayRepeatIn(&Manifest{Ops: []string{"cp"}}))
}
