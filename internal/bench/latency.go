package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/producer"
	"github.com/nats-io/nats.go"
)

// latency sends jobs at a fixed rate, one publish at a time from
// LatencySenders goroutines, each stamped with its publish time in
// HeaderSent, and measures the delay until a consumer starts on it: a raw
// pull subscription receiving it (Raw, RawSubjectPerJob), or a jetpool
// handler being called.
func (b *bench) latency(ctx context.Context, kind string, rep, steps int, rate float64) error {
	if rate <= 0 {
		return fmt.Errorf("bench: %s latency: no end to end rate to pace at", kind)
	}
	ctx, cancel := b.stepContext(ctx)
	defer cancel()
	t, err := b.provision(ctx, kind)
	if err != nil {
		return err
	}
	defer b.drop(t)
	n := min(b.o.Jobs, max(int(rate*LatencyDuration.Seconds()), min(1000, b.o.Jobs)))

	delays := make([]int64, n)
	var next atomic.Int64
	got := newCounter(n)
	seen := func(h nats.Header) {
		now := time.Now().UnixNano()
		sent, err := strconv.ParseInt(h.Get(HeaderSent), 10, 64)
		if i := next.Add(1) - 1; err == nil && i < int64(n) {
			delays[i] = now - sent
		}
	}
	stop, err := b.startConsumer(ctx, kind, t, got, seen)
	if err != nil {
		return fmt.Errorf("bench: %s latency: %w", kind, err)
	}
	tr := b.track(fmt.Sprintf("%s latency at %s jobs/s", kind, thousands(rate)), steps, n, got.count)

	send, err := b.sender(kind, t)
	if err == nil {
		var achieved float64
		achieved, err = pace(ctx, n, rate, send)
		if err == nil {
			err = got.wait(ctx)
		}
		if err == nil {
			l := percentiles(delays)
			l.Rate, l.Achieved, l.Jobs = rate, achieved, n
			b.runs = append(b.runs, Sample{Figure: FigureLatency, Kind: kind, Rep: rep, Jobs: n,
				Seconds: float64(n) / achieved, JobsPerSec: achieved, Latency: &l})
		}
	}
	err = errors.Join(err, stop())
	tr.finish()
	if err != nil {
		return fmt.Errorf("bench: %s latency: %w", kind, err)
	}
	return nil
}

// sender returns the function that publishes the i-th paced job: raw, a
// synchronous JetStream publish, to one subject or (RawSubjectPerJob) to
// the job's own; jetpool, producer.Enqueue.
func (b *bench) sender(kind string, t *provisioned) (func(ctx context.Context, i int) error, error) {
	if kind != Jetpool {
		subject := func(int) string { return t.names.JobSubject(queue, "raw") }
		if kind == RawSubjectPerJob {
			subject = func(i int) string { return t.names.JobSubject(queue, b.ids[i]) }
		}
		return func(ctx context.Context, i int) error {
			m := nats.NewMsg(subject(i))
			m.Header.Set(jetpool.HeaderMsgID, b.ids[i])
			m.Header.Set(HeaderSent, strconv.FormatInt(time.Now().UnixNano(), 10))
			m.Data = b.payload
			_, err := b.pubJS.PublishMsg(ctx, m)
			return err
		}, nil
	}
	p, err := b.producer(t)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, i int) error {
		h := nats.Header{HeaderSent: []string{strconv.FormatInt(time.Now().UnixNano(), 10)}}
		_, err := p.Enqueue(ctx, queue, b.payload, producer.WithID(b.ids[i]), producer.WithHeaders(h))
		return err
	}, nil
}

// pace calls send for 0..n-1, the i-th due i/rate seconds after the start,
// from LatencySenders goroutines, and returns the rate it kept.
func pace(ctx context.Context, n int, rate float64, send func(context.Context, int) error) (float64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	var (
		next     atomic.Int64
		last     atomic.Int64 // when the last send returned, in ns since start
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range min(LatencySenders, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || ctx.Err() != nil {
					return
				}
				if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
					time.Sleep(d)
				}
				if err := send(ctx, int(i)); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("job %d: %w", i, err); cancel() })
					return
				}
				done := int64(time.Since(start))
				for {
					l := last.Load()
					if done <= l || last.CompareAndSwap(l, done) {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	// n jobs span n-1 intervals: the rate kept is measured over those.
	span := time.Duration(last.Load()).Seconds()
	if n < 2 || span <= 0 {
		return rate, nil
	}
	return float64(n-1) / span, nil
}

// percentiles reduces delays in nanoseconds to p50, p99 and p99.9 in
// milliseconds: the value at or below which that share of jobs waited.
func percentiles(delays []int64) Latency {
	s := slices.Clone(delays)
	slices.Sort(s)
	at := func(q float64) float64 {
		if len(s) == 0 {
			return 0
		}
		i := max(int(math.Ceil(q*float64(len(s))))-1, 0)
		return float64(s[i]) / 1e6
	}
	return Latency{P50: at(0.50), P99: at(0.99), P999: at(0.999)}
}
