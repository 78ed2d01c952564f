package producer

import (
	"context"
	"errors"
	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/batch"
	"github.com/jetpool/jetpool/internal/manifest"
	"slices"
)

// checkpointer records one enqueue's progress in its batch's manifest
// while the window publishes, and sets the limit (seq.until) below which
// the window may publish. One checkpoint at a time is written, in the
// background, while publishing goes on below the current limit.
//
// The bound it keeps (invariant 4 of DESIGN.md, see docs/batches.md): a
// crash leaves at most Window + checkpointEvery positions unsure, because
// nothing is published at or beyond a limit the manifest does not hold
// yet. Once a checkpoint fails the limit stays where it was, so that bound
// still holds, and the may-repeat count of a checkpoint whose answer was
// lost is counted once at the end whichever way it went, which keeps the
// batch report exact (invariant 2).
type checkpointer struct {
	store *manifest.Store
	batch string
	seq   *sequence

	// written is the manifest as this enqueue last wrote it.
	written *manifest.Written
	// recording is the checkpoint being written, nil when none is.
	recording *checkpointWrite
	// unconfirmed is the checkpoint that failed, which may have been
	// written all the same: its answer may have been lost.
	unconfirmed *checkpointWrite
	// mayRepeatRecorded is the part of the batch's MayRepeat already in
	// the manifest.
	mayRepeatRecorded int
	// takenOver is set once another enqueue took the batch over.
	takenOver error
}

// limit is the position the window may publish up to, excluded.
func (c *checkpointer) limit() int { return c.seq.until }

// due reports whether a checkpoint should start before pos is published:
// none is being written, pos is within checkpointLead of the limit, and the
// limit is short of the end.
func (c *checkpointer) due(pos int) bool {
	return c.recording == nil && pos >= c.seq.until-checkpointLead && c.seq.until < len(c.seq.state)
}

// busy reports whether a checkpoint is being written.
func (c *checkpointer) busy() bool { return c.recording != nil }

// start begins recording the progress up to pos, with a new limit
// checkpointEvery positions beyond pos, or beyond a full window past the
// settled prefix when that is further: either way a crash leaves at most
// window + checkpointEvery positions unsure. mayRepeat is the batch's
// MayRepeat so far. It is written while publishing goes on below the
// current limit, which pos is within checkpointLead of.
func (c *checkpointer) start(ctx context.Context, pos, window, mayRepeat int) {
	c.seq.advance()
	until := min(len(c.seq.state), max(pos, c.seq.settled+window)+checkpointEvery)
	pr := c.seq.progress(true, until)
	addMayRepeat := mayRepeat - c.mayRepeatRecorded
	store, owns, batch, written := c.store, c.seq.owns, c.batch, c.written
	cw := &checkpointWrite{done: make(chan checkpointDone, 1), op: jetpool.NewID(), until: until, mayRepeat: mayRepeat}
	c.recording = cw
	go func() {
		written, err := store.UpdateFrom(ctx, batch, "", written, cw.op, func(m *manifest.Manifest) error {
			if err := owns(m); err != nil {
				return err
			}
			pr.apply(m)
			m.MayRepeat += addMayRepeat
			return nil
		})
		cw.done <- checkpointDone{written, err}
	}()
}

// answer is where the outcome of the checkpoint being written comes, nil
// (never ready) when none is.
func (c *checkpointer) answer() <-chan checkpointDone {
	if c.recording == nil {
		return nil
	}
	return c.recording.done
}

// take takes the outcome of the checkpoint that was being written: on
// success, the window may publish up to its new limit; otherwise take
// returns the error, and the window publishes nothing new.
func (c *checkpointer) take(d checkpointDone) error {
	cw := c.recording
	c.recording = nil
	if d.err == nil {
		c.written = d.written
		c.seq.until, c.mayRepeatRecorded = cw.until, cw.mayRepeat
		return nil
	}
	c.unconfirmed = cw
	if errors.Is(d.err, batch.ErrTakenOver) {
		c.takenOver = d.err
	}
	return d.err
}

// wait takes the outcome of the checkpoint being written, if one is,
// waiting for it.
func (c *checkpointer) wait() error {
	if c.recording == nil {
		return nil
	}
	return c.take(<-c.recording.done)
}

// mayRepeatIn is the part of the batch's MayRepeat that m already counts,
// m being the manifest as it stands when the enqueue records its end.
func (c *checkpointer) mayRepeatIn(m *manifest.Manifest) int {
	if u := c.unconfirmed; u != nil && slices.Contains(m.Ops, u.op) {
		return u.mayRepeat // written after all
	}
	return c.mayRepeatRecorded
}

// checkpointWrite is a checkpoint being written, or one whose write failed.
type checkpointWrite struct {
	done      chan checkpointDone // its outcome, once written
	op        string              // names it in the manifest's Ops
	until     int                 // the new limit it records
	mayRepeat int                 // the batch's MayRepeat when it was taken
}

// checkpointDone is the outcome of a checkpoint.
type checkpointDone struct {
	written *manifest.Written
	err     error
}
