package bench

import (
	"bytes"
	"context"
	"fmt"
	"time"
)

// enqueueCommand measures `jetpool enqueue bench - --batch B` alone, given
// N lines of Payload bytes on stdin, into an empty queue with no consumer;
// timed from its start to its exit 0. Its raw baseline is `jetpool bench
// raw-publish` given the same lines: the raw async publisher as a process.
func (b *bench) enqueueCommand(ctx context.Context, kind string, rep, steps int) error {
	ctx, cancel := b.stepContext(ctx)
	defer cancel()
	t, err := b.provision(ctx, "enq-"+kind)
	if err != nil {
		return err
	}
	defer b.drop(t)
	n := b.o.Jobs
	batch := fmt.Sprintf("enq-%d", rep)
	name, args := "jetpool enqueue -", []string{"enqueue", queue, "-", "--batch", batch}
	if kind == Raw {
		name, args = "raw publish process", []string{"bench", "raw-publish", queue, batch}
	}
	tr := b.track(name, steps, n, func() int { return streamMsgs(ctx, t) })
	defer tr.finish()
	lines := bytes.NewReader(b.lines(n))
	start := time.Now()
	c, err := b.startJetpool(ctx, t, lines, args...)
	if err == nil {
		err = c.wait(ctx)
	}
	elapsed := time.Since(start)
	if err != nil {
		return fmt.Errorf("bench: %s: %w", name, err)
	}
	if got := streamMsgs(ctx, t); got != n {
		return fmt.Errorf("bench: %s: the stream holds %d of %d jobs", name, got, n)
	}
	b.record(FigureEnqueueCommand, kind, rep, n, elapsed)
	return nil
}
