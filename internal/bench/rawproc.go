package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/internal/lines"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The raw baseline of the commands figure runs, like jetpool's commands, as
// processes of their own over the same loopback connections: `jetpool bench
// raw-consume QUEUE N` (hidden) acks N messages with the raw pull
// subscriptions, and `jetpool bench raw-publish QUEUE BATCH` (hidden)
// publishes the lines of its stdin the raw client's way. Only the bench
// runs them.

// RawPublishLines publishes one message per non-blank line of r to queue's
// job subject for batch, each with the ID BATCH-LINE that `jetpool enqueue
// -` would give it, as the raw client publishes: asynchronously, RawWindow
// awaiting acknowledgement.
func RawPublishLines(ctx context.Context, nc *nats.Conn, names jetpool.Names, queue, batch string, r io.Reader) error {
	type job struct {
		id      string
		payload []byte
	}
	var jobs []job
	err := lines.Read(r, func(n int, text []byte) {
		jobs = append(jobs, job{batch + "-" + strconv.Itoa(n), text})
	})
	if err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	msgs := func(yield func(string, []byte) bool) {
		for _, j := range jobs {
			if !yield(j.id, j.payload) {
				return
			}
		}
	}
	var published atomic.Int64
	return rawPublishAll(ctx, nc, names.JobSubject(queue, batch), msgs, &published)
}

// RawConsume acks n messages of queue with RawPullers pull subscriptions,
// each pulling RawPullBatch at a time, and returns once the server has
// every ack.
func RawConsume(ctx context.Context, js jetstream.JetStream, names jetpool.Names, queue string, n int) error {
	cons, err := js.Consumer(ctx, names.WorkStream(), names.ConsumerName(queue))
	if err != nil {
		return fmt.Errorf("queue %s: %w", queue, err)
	}
	got := newCounter(n)
	stop, err := startRawPullers(cons, got, nil)
	if err != nil {
		return err
	}
	err = got.wait(ctx)
	err = errors.Join(err, stop())
	if err != nil {
		return err
	}
	return js.Conn().FlushTimeout(10 * time.Second)
}
