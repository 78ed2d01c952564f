package bench

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/producer"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// queued measures publishing N jobs into an empty queue, then consuming
// and acking those same jobs until the stream is empty.
func (b *bench) queued(ctx context.Context, kind string, rep, steps int) error {
	ctx, cancel := b.stepContext(ctx)
	defer cancel()
	t, err := b.provision(ctx, kind)
	if err != nil {
		return err
	}
	defer b.drop(t)
	n := b.o.Jobs

	var published atomic.Int64
	done := func() int { return int(published.Load()) }
	if kind == Jetpool {
		// EnqueueBatch does not count as it goes: the stream does.
		done = func() int { return streamMsgs(ctx, t) }
	}
	var p *producer.Producer
	if kind == Jetpool {
		if p, err = b.producer(t); err != nil {
			return err
		}
		// Closing is tidying up, not publishing: it is not timed.
		defer p.Close()
	}
	tr := b.track(kind+" publish", steps, n, done)
	start := time.Now()
	if kind == Raw {
		err = b.rawPublish(ctx, t, &published)
	} else {
		err = b.jetpoolPublish(ctx, p)
	}
	elapsed := time.Since(start)
	tr.finish()
	if err != nil {
		return fmt.Errorf("bench: %s publish: %w", kind, err)
	}
	b.record(FigurePublish, kind, rep, n, elapsed)

	got := newCounter(n)
	tr = b.track(kind+" consume", steps, n, got.count)
	start = time.Now()
	stop, err := b.startConsumer(ctx, kind, t, got, nil)
	if err == nil {
		err = got.wait(ctx)
		if err == nil {
			err = waitEmpty(ctx, t)
		}
	}
	elapsed = time.Since(start)
	err = errors.Join(err, stop())
	tr.finish()
	if err != nil {
		return fmt.Errorf("bench: %s consume: %w", kind, err)
	}
	b.record(FigureConsume, kind, rep, n, elapsed)
	return nil
}

// endToEnd measures publishing N jobs while consumers already run, until
// every job is acked: for raw, until the stream is empty; for jetpool,
// until the batch's Wait returns, the way a user learns it is done.
func (b *bench) endToEnd(ctx context.Context, kind string, rep, steps int) error {
	ctx, cancel := b.stepContext(ctx)
	defer cancel()
	t, err := b.provision(ctx, kind)
	if err != nil {
		return err
	}
	defer b.drop(t)
	n := b.o.Jobs
	got := newCounter(n)
	stop, err := b.startConsumer(ctx, kind, t, got, nil)
	if err != nil {
		return fmt.Errorf("bench: %s end to end: %w", kind, err)
	}
	var p *producer.Producer
	if kind == Jetpool {
		if p, err = b.producer(t); err != nil {
			return errors.Join(err, stop())
		}
		defer p.Close() // not timed, as in queued
	}
	tr := b.track(kind+" end to end", steps, n, got.count)
	start := time.Now()
	if kind == Raw {
		var published atomic.Int64
		err = b.rawPublish(ctx, t, &published)
		if err == nil {
			err = got.wait(ctx)
		}
		if err == nil {
			err = waitEmpty(ctx, t)
		}
	} else {
		err = b.jetpoolEndToEnd(ctx, p)
	}
	elapsed := time.Since(start)
	err = errors.Join(err, stop())
	tr.finish()
	if err != nil {
		return fmt.Errorf("bench: %s end to end: %w", kind, err)
	}
	b.record(FigureEndToEnd, kind, rep, n, elapsed)
	return nil
}

// streamMsgs is how many messages t's work stream holds; 0 when it cannot
// tell within a tenth of a second.
func streamMsgs(ctx context.Context, t *provisioned) int {
	ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	info, err := t.stream.Info(ctx)
	if err != nil {
		return 0
	}
	return int(info.State.Msgs)
}

func (b *bench) record(figure, kind string, rep, n int, d time.Duration) {
	b.runs = append(b.runs, Sample{Figure: figure, Kind: kind, Rep: rep, Jobs: n, Seconds: d.Seconds(), JobsPerSec: float64(n) / d.Seconds()})
}

// rawPublish publishes the N jobs with PublishMsgAsync, RawWindow
// awaiting acknowledgement at once, each with its ID in Nats-Msg-Id, and
// waits for every acknowledgement.
func (b *bench) rawPublish(ctx context.Context, t *provisioned, published *atomic.Int64) error {
	msgs := func(yield func(id string, payload []byte) bool) {
		for _, id := range b.ids {
			if !yield(id, b.payload) {
				return
			}
		}
	}
	return rawPublishAll(ctx, b.pubConn, t.names.JobSubject(queue, "raw"), msgs, published)
}

// rawPublishAll publishes msgs to subject as the raw client does: with
// PublishMsgAsync, RawWindow awaiting acknowledgement at once, each ID in
// Nats-Msg-Id; then it waits for every acknowledgement.
func rawPublishAll(ctx context.Context, nc *nats.Conn, subject string, msgs iter.Seq2[string, []byte], published *atomic.Int64) error {
	var failed atomic.Int64
	var firstErr atomic.Value
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(RawWindow),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err)
		}))
	if err != nil {
		return err
	}
	for id, payload := range msgs {
		m := nats.NewMsg(subject)
		m.Header.Set(jetpool.HeaderMsgID, id)
		m.Data = payload
		if _, err := js.PublishMsgAsync(m, jetstream.WithStallWait(10*time.Second)); err != nil {
			return err
		}
		published.Add(1)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d publishes not acknowledged, the first: %v", n, firstErr.Load())
	}
	return nil
}

// items are the N jobs as a batch.
func (b *bench) items(payload []byte, n int) []producer.Item {
	items := make([]producer.Item, n)
	for i := range items {
		items[i] = producer.Item{ID: b.ids[i], Payload: payload}
	}
	return items
}

func (b *bench) producer(t *provisioned) (*producer.Producer, error) {
	return producer.New(b.pubJS, producer.Options{Names: t.names, Logger: b.log})
}

// jetpoolPublish enqueues the N jobs as one batch with p.EnqueueBatch.
func (b *bench) jetpoolPublish(ctx context.Context, p *producer.Producer) error {
	items := b.items(b.payload, b.o.Jobs)
	batch, err := p.EnqueueBatch(ctx, queue, items)
	if err != nil {
		return err
	}
	if batch.Enqueued != len(items) {
		return fmt.Errorf("batch %s: %d of %d jobs enqueued", batch.ID, batch.Enqueued, len(items))
	}
	return nil
}

// jetpoolEndToEnd enqueues the N jobs as one batch with p while the pool
// runs and waits for the batch.
func (b *bench) jetpoolEndToEnd(ctx context.Context, p *producer.Producer) error {
	batch, err := p.EnqueueBatch(ctx, queue, b.items(b.payload, b.o.Jobs))
	if err != nil {
		return err
	}
	r, err := batch.Wait(ctx)
	if err != nil {
		return err
	}
	if !r.Done || r.Completed != b.o.Jobs {
		return fmt.Errorf("batch %s: done %v, %d of %d jobs completed, %d dead", batch.ID, r.Done, r.Completed, b.o.Jobs, r.Dead)
	}
	return nil
}

// startConsumer starts consuming t's queue: raw (either kind), RawPullers
// pull subscriptions that ack each message; jetpool, a pool at the bench's
// concurrency with a no-op handler. Each message received is counted, and
// given to seen first when seen is not nil. stop ends the consumer and
// reports what went wrong meanwhile.
func (b *bench) startConsumer(ctx context.Context, kind string, t *provisioned, got *counter, seen func(nats.Header)) (stop func() error, err error) {
	if kind != Jetpool {
		return startRawPullers(t.cons, got, seen)
	}
	pool, err := consumer.New(b.subJS, consumer.Options{Queue: queue, Names: t.names, Concurrency: b.o.Concurrency, Logger: b.log, Handler: jetpool.HandlerFunc(func(_ context.Context, job *jetpool.Job) error {
		if seen != nil {
			seen(job.Headers)
		}
		got.add()
		return nil
	})})
	if err != nil {
		return nil, err
	}
	if err := pool.Start(ctx); err != nil {
		return nil, err
	}
	return func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := pool.Stop(sctx); err != nil {
			return err
		}
		if s := pool.Stats(); s.AckErrors > 0 || s.Dead > 0 {
			return fmt.Errorf("pool: %d ack errors, %d dead jobs", s.AckErrors, s.Dead)
		}
		return nil
	}, nil
}

// startRawPullers runs RawPullers iterators over cons, each pulling
// RawPullBatch messages at a time and acking every message.
func startRawPullers(cons jetstream.Consumer, got *counter, seen func(nats.Header)) (stop func() error, err error) {
	var (
		wg       sync.WaitGroup
		its      []jetstream.MessagesContext
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	stopAll := func() error {
		for _, it := range its {
			it.Stop()
		}
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return firstErr
	}
	for range RawPullers {
		it, err := cons.Messages(jetstream.PullMaxMessages(RawPullBatch))
		if err != nil {
			_ = stopAll()
			return nil, err
		}
		its = append(its, it)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				msg, err := it.Next()
				switch {
				case errors.Is(err, jetstream.ErrMsgIteratorClosed):
					return
				case errors.Is(err, jetstream.ErrNoHeartbeat):
					continue // the iterator pulls again
				case err != nil:
					fail(fmt.Errorf("next message: %w", err))
					return
				}
				if seen != nil {
					seen(msg.Headers())
				}
				if err := msg.Ack(); err != nil {
					fail(fmt.Errorf("ack: %w", err))
				}
				got.add()
			}
		}()
	}
	return stopAll, nil
}
