package bench

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"time"
)

// command measures the command pipeline an operator runs: a `jetpool work
// --builtin noop` process at Options.Concurrency, already pulling, then
// `jetpool enqueue bench - --batch B` given N lines of Payload bytes on
// stdin, then `jetpool batch wait B`; timed from the enqueue's start to
// batch wait's exit 0. Its raw baseline runs the raw clients as processes
// the same way: `jetpool bench raw-consume`, already pulling, then `jetpool
// bench raw-publish` given the same lines; timed from the publisher's start
// to the consumer's exit with every message acked and the stream empty.
func (b *bench) command(ctx context.Context, kind string, rep, steps int) error {
	ctx, cancel := b.stepContext(ctx)
	defer cancel()
	t, err := b.provision(ctx, "cmd-"+kind)
	if err != nil {
		return err
	}
	defer b.drop(t)
	n := b.o.Jobs
	tr := b.track(kind+" commands end to end", steps, n, func() int { return b.commandDone(ctx, t) })
	defer tr.finish()

	consumerArgs := []string{"work", "--queue", queue, "--concurrency", strconv.Itoa(b.o.Concurrency), "--builtin", "noop"}
	if kind == Raw {
		consumerArgs = []string{"bench", "raw-consume", queue, strconv.Itoa(n)}
	}
	w, err := b.startJetpool(ctx, t, nil, consumerArgs...)
	if err != nil {
		return fmt.Errorf("bench: %s commands: %w", kind, err)
	}
	stopConsumer := func() error {
		if err := w.stop(); err != nil {
			return fmt.Errorf("bench: %s commands: the consumer did not stop cleanly: %v: %s", kind, err, w.stderr)
		}
		return nil
	}
	// Timing starts once the consumer pulls: its start-up is not the
	// pipeline's cost.
	for {
		info, err := t.cons.Info(ctx)
		if err == nil && info.NumWaiting > 0 {
			break
		}
		select {
		case <-w.exited:
			return fmt.Errorf("bench: %s commands: the consumer exited at start (%v): %s", kind, w.err, w.stderr)
		case <-ctx.Done():
			return fmt.Errorf("bench: %s commands: the consumer never pulled: %w (%v)", kind, ctx.Err(), stopConsumer())
		case <-time.After(20 * time.Millisecond):
		}
	}

	batch := fmt.Sprintf("cmd-%d", rep)
	lines := bytes.NewReader(b.lines(n))
	start := time.Now()
	if kind == Raw {
		err = b.rawCommands(ctx, t, w, batch, lines)
	} else {
		err = b.jetpoolCommands(ctx, t, batch, lines)
	}
	elapsed := time.Since(start)
	if err != nil {
		return fmt.Errorf("bench: %s commands: %w (%v)", kind, err, stopConsumer())
	}
	if kind == Jetpool {
		if err := stopConsumer(); err != nil {
			return err
		}
	}
	b.record(FigureCommands, kind, rep, n, elapsed)
	return nil
}

// jetpoolCommands runs `jetpool enqueue - --batch BATCH` on lines, then
// `jetpool batch wait BATCH`.
func (b *bench) jetpoolCommands(ctx context.Context, t *provisioned, batch string, lines io.Reader) error {
	enq, err := b.startJetpool(ctx, t, lines, "enqueue", queue, "-", "--batch", batch)
	if err == nil {
		err = enq.wait(ctx)
	}
	if err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	wait, err := b.startJetpool(ctx, t, nil, "batch", "wait", batch, "--timeout", "10m")
	if err == nil {
		err = wait.wait(ctx)
	}
	if err != nil {
		return fmt.Errorf("batch wait: %w", err)
	}
	return nil
}

// rawCommands runs the raw publisher process on lines, then waits for the
// raw consumer process to exit and the stream to be empty.
func (b *bench) rawCommands(ctx context.Context, t *provisioned, consumer *child, batch string, lines io.Reader) error {
	pub, err := b.startJetpool(ctx, t, lines, "bench", "raw-publish", queue, batch)
	if err == nil {
		err = pub.wait(ctx)
	}
	if err != nil {
		return fmt.Errorf("raw publish: %w", err)
	}
	if err := consumer.wait(ctx); err != nil {
		return fmt.Errorf("raw consume: %w", err)
	}
	return waitEmpty(ctx, t)
}

// commandDone is how many jobs of the command pipeline the worker has
// acknowledged so far.
func (b *bench) commandDone(ctx context.Context, t *provisioned) int {
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
