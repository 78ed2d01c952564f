package producer

import (
	"context"
	"errors"
	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/batch"
	"github.com/jetpool/jetpool/internal/manifest"
	"slices"
)

// Checkpoints: while an enqueue publishes, the manifest records its
// progress and the limit (until) below which it may publish, so that a
// crash leaves at most Window + checkpointEvery positions unsure (see
// docs/batches.md). One checkpoint at a time is written, in the
// background, while publishing goes on below the current limit.

// checkpoint starts recording the progress up to pos, with a new limit
// checkpointEvery positions beyond pos, or beyond a full window past the
// settled prefix when that is further: either way a crash leaves at most
// Window + checkpointEvery positions unsure. It is written while publishing
// goes on below the current limit, which pos is within checkpointLead of.
func (w *window) checkpoint(ctx context.Context, pos int) {
	w.seq.advance()
	until := min(len(w.seq.state), max(pos, w.seq.settled+w.p.opts.Window)+checkpointEvery)
	pr := w.seq.progress(true, until)
	mayRepeat := w.b.MayRepeat
	addMayRepeat := mayRepeat - w.mayRepeatRecorded
	owns, batch, written := w.seq.owns, w.b.ID, w.written
	cw := &checkpointWrite{done: make(chan checkpointDone, 1), op: jetpool.NewID(), until: until, mayRepeat: mayRepeat}
	w.recording = cw
	go func() {
		written, err := w.p.store.UpdateFrom(ctx, batch, "", written, cw.op, func(m *manifest.Manifest) error {
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

// checkpointWrite is a checkpoint being written, or one whose write failed.
type checkpointWrite struct {
	done      chan checkpointDone // its outcome, once written
	op        string              // names it in the manifest's Ops
	until     int                 // the new limit it records
	mayRepeat int                 // b.MayRepeat when it was taken
}

// answer is where c's outcome comes, nil (never ready) when c is nil.
func (c *checkpointWrite) answer() <-chan checkpointDone {
	if c == nil {
		return nil
	}
	return c.done
}

// checkpointDone is the outcome of a checkpoint.
type checkpointDone struct {
	written *manifest.Written
	err     error
}

// checkpointed takes the outcome of the checkpoint that was recording: on
// success, the enqueue may publish up to its new limit; otherwise it
// publishes nothing new.
func (w *window) checkpointed(c checkpointDone) {
	cw := w.recording
	w.recording = nil
	if c.err == nil {
		w.written = c.written
		w.seq.until, w.mayRepeatRecorded = cw.until, cw.mayRepeat
		return
	}
	w.unconfirmed = cw
	if w.stopped == nil {
		w.stopped = c.err
	}
	if errors.Is(c.err, batch.ErrTakenOver) {
		w.fenced = c.err
	}
}

// mayRepeatIn is the part of b.MayRepeat that m already counts, m being the
// manifest as it stands when this enqueue records its end.
func (w *window) mayRepeatIn(m *manifest.Manifest) int {
	if u := w.unconfirmed; u != nil && slices.Contains(m.Ops, u.op) {
		return u.mayRepeat // written after all
	}
	return w.mayRepeatRecorded
}
