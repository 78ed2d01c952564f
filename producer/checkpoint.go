package producer

import (
	"context"
	"errors"
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
	done := make(chan checkpointDone, 1)
	op := NewID()
	w.recording, w.recordingUntil, w.recordingMayRepeat, w.recordingOp = done, until, mayRepeat, op
	go func() {
		written, err := w.p.updateManifestFrom(ctx, batch, "", written, op, func(m *Manifest) error {
			if err := owns(m); err != nil {
				return err
			}
			pr.apply(m)
			m.MayRepeat += addMayRepeat
			return nil
		})
		done <- checkpointDone{written, err}
	}()
}

// checkpointDone is the outcome of a checkpoint.
type checkpointDone struct {
	written *writtenManifest
	err     error
}

// checkpointed takes the outcome of the checkpoint that was recording: on
// success, the enqueue may publish up to its new limit; otherwise it
// publishes nothing new.
func (w *window) checkpointed(c checkpointDone) {
	w.recording = nil
	if c.err == nil {
		w.written = c.written
		w.seq.until, w.mayRepeatRecorded = w.recordingUntil, w.recordingMayRepeat
		return
	}
	w.unconfirmed = &unconfirmedCheckpoint{op: w.recordingOp, mayRepeat: w.recordingMayRepeat}
	if w.stopped == nil {
		w.stopped = c.err
	}
	if errors.Is(c.err, ErrTakenOver) {
		w.fenced = c.err
	}
}

// unconfirmedCheckpoint is a checkpoint whose write failed or went
// unanswered: op names it, and mayRepeat is the b.MayRepeat it recorded.
type unconfirmedCheckpoint struct {
	op        string
	mayRepeat int
}

// mayRepeatIn is the part of b.MayRepeat that m already counts, m being the
// manifest as it stands when this enqueue records its end.
func (w *window) mayRepeatIn(m *Manifest) int {
	if u := w.unconfirmed; u != nil && slices.Contains(m.Ops, u.op) {
		return u.mayRepeat // written after all
	}
	return w.mayRepeatRecorded
}
