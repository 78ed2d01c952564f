package bench

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
)

// command measures the command pipeline an operator runs: a `jetpool work
// --builtin noop` process at Options.Concurrency, already pulling, then
// `jetpool enqueue bench - --batch B` given N lines of Payload bytes on
// stdin, then `jetpool batch wait B`; timed from the enqueue's start to
// batch wait's exit 0. Its raw baseline is the raw end to end figure.
func (b *bench) command(ctx context.Context, rep, steps int) error {
	ctx, cancel := b.stepContext(ctx)
	defer cancel()
	t, err := b.provision(ctx, "cmd")
	if err != nil {
		return err
	}
	defer b.drop(t)
	n := b.o.Jobs
	tr := b.track("jetpool commands end to end", steps, n, func() int { return b.commandDone(ctx, t) })
	defer tr.finish()

	w, err := b.startJetpool(ctx, t, nil, "work", "--queue", queue, "--concurrency", strconv.Itoa(b.o.Concurrency), "--builtin", "noop")
	if err != nil {
		return fmt.Errorf("bench: commands: %w", err)
	}
	stopWorker := func() error {
		if err := w.stop(); err != nil {
			return fmt.Errorf("bench: commands: the worker did not stop cleanly: %v: %s", err, w.stderr)
		}
		return nil
	}
	// Timing starts once the worker pulls: its start-up is not the
	// pipeline's cost.
	for {
		info, err := t.cons.Info(ctx)
		if err == nil && info.NumWaiting > 0 {
			break
		}
		select {
		case err := <-w.exited:
			return fmt.Errorf("bench: commands: the worker exited at start (%v): %s", err, w.stderr)
		case <-ctx.Done():
			return fmt.Errorf("bench: commands: the worker never pulled: %w (%v)", ctx.Err(), stopWorker())
		case <-time.After(20 * time.Millisecond):
		}
	}

	batch := fmt.Sprintf("cmd-%d", rep)
	start := time.Now()
	enq, err := b.startJetpool(ctx, t, bytes.NewReader(b.lines(n)), "enqueue", queue, "-", "--batch", batch)
	if err == nil {
		err = enq.wait(ctx)
	}
	if err != nil {
		return fmt.Errorf("bench: commands: enqueue: %w (%v)", err, stopWorker())
	}
	wait, err := b.startJetpool(ctx, t, nil, "batch", "wait", batch, "--timeout", "10m")
	if err == nil {
		err = wait.wait(ctx)
	}
	elapsed := time.Since(start)
	if err != nil {
		return fmt.Errorf("bench: commands: batch wait: %w (%v)", err, stopWorker())
	}
	if err := stopWorker(); err != nil {
		return err
	}
	b.record(FigureCommands, Jetpool, rep, n, elapsed)
	return nil
}

// commandDone is how many jobs of the command pipeline the worker has
// acknowledged so far.
func (b *bench) commandDone(ctx context.Context, t *topology) int {
	ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	info, err := t.cons.Info(ctx)
	if err != nil {
		return 0
	}
	return int(info.AckFloor.Stream)
}

// lines is n lines for `enqueue -`, each Payload bytes long (the payload in
// hex, repeated as needed).
func (b *bench) lines(n int) []byte {
	line := bytes.Repeat([]byte(hex.EncodeToString(b.payload)), b.o.Payload/max(2*len(b.payload), 1)+1)[:b.o.Payload]
	out := make([]byte, 0, n*(len(line)+1))
	for range n {
		out = append(append(out, line...), '\n')
	}
	return out
}
