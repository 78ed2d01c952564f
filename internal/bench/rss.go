package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// workerRSS queues RSSJobs jobs of RSSPayload bytes, runs a worker process
// (`jetpool work --builtin noop` at RSSConcurrency) until the queue is empty
// and reads its peak resident memory, VmHWM in /proc/PID/status (Linux).
func (b *bench) workerRSS(ctx context.Context, steps int) (*RSS, error) {
	ctx, cancel := b.stepContext(ctx)
	defer cancel()
	t, err := b.provision(ctx, "rss")
	if err != nil {
		return nil, err
	}
	defer b.drop(t)
	n := min(b.o.Jobs, RSSJobs)
	payload := make([]byte, RSSPayload)
	copy(payload, bytes.Repeat(b.payload, RSSPayload/max(len(b.payload), 1)+1))
	p, err := b.producer(t)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	batch, err := p.EnqueueBatch(ctx, queue, b.items(payload, n))
	if err != nil {
		return nil, fmt.Errorf("bench: worker memory: enqueue: %w", err)
	}
	if batch.Enqueued != n {
		return nil, fmt.Errorf("bench: worker memory: %d of %d jobs enqueued", batch.Enqueued, n)
	}

	var left atomic.Int64
	left.Store(int64(n))
	tr := b.track(fmt.Sprintf("worker memory, %d workers, %d KiB jobs", RSSConcurrency, RSSPayload>>10), steps, n, func() int { return n - int(left.Load()) })
	defer tr.finish()

	w, err := b.startJetpool(ctx, t, nil, "work", "--queue", queue, "--concurrency", strconv.Itoa(RSSConcurrency), "--builtin", "noop")
	if err != nil {
		return nil, fmt.Errorf("bench: worker memory: %w", err)
	}
	start := time.Now()
	pid := w.cmd.Process.Pid

	var peak int64
	for {
		if hwm, err := readHWM(pid); err == nil {
			peak = max(peak, hwm)
		}
		info, err := t.stream.Info(ctx)
		if err != nil {
			_ = w.stop()
			return nil, fmt.Errorf("bench: worker memory: stream info: %w", err)
		}
		left.Store(int64(info.State.Msgs))
		if info.State.Msgs == 0 {
			break
		}
		select {
		case <-w.exited:
			return nil, fmt.Errorf("bench: worker memory: the worker exited (%v) with %d jobs left: %s", w.err, info.State.Msgs, w.stderr)
		case <-ctx.Done():
			_ = w.stop()
			return nil, fmt.Errorf("bench: worker memory: %d jobs left: %w", info.State.Msgs, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	elapsed := time.Since(start)
	hwm, err := readHWM(pid)
	if err != nil {
		_ = w.stop()
		return nil, fmt.Errorf("bench: worker memory: %w", err)
	}
	peak = max(peak, hwm)
	if err := w.stop(); err != nil {
		return nil, fmt.Errorf("bench: worker memory: the worker did not stop cleanly: %v: %s", err, w.stderr)
	}
	return &RSS{Concurrency: RSSConcurrency, Payload: RSSPayload, Jobs: n, PeakBytes: peak,
		PeakMiB: float64(peak) / (1 << 20), JobsPerSec: float64(n) / elapsed.Seconds()}, nil
}

// readHWM returns a process's peak resident set size in bytes.
func readHWM(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("peak memory needs /proc (Linux): %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// tail keeps the last max bytes written to it: a child's stderr for an
// error message.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}
