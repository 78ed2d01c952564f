package consumer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// forwarder publishes the jobs one delivery forwards to later stages.
type forwarder struct {
	pool   *Pool
	source *jetpool.Job
	n      atomic.Int64
}

// ForwardID is the ID of the n-th job (from 0) that the job source forwards
// to queue. It is the same on every delivery of source, so JetStream's
// deduplication keeps a redelivered job from forwarding twice.
func ForwardID(source, queue string, n int) string {
	sum := sha256.Sum256([]byte(source + "\x00" + queue + "\x00" + strconv.Itoa(n)))
	head := source
	if len(head) > 64 {
		head = head[:64]
	}
	return head + "-" + hex.EncodeToString(sum[:10])
}

func (f *forwarder) forward(ctx context.Context, queue string, payload []byte, headers nats.Header) (string, error) {
	if err := jetpool.ValidateQueue(queue); err != nil {
		return "", fmt.Errorf("forward: %w", err)
	}
	n := int(f.n.Add(1) - 1)
	id := ForwardID(f.source.ID, queue, n)
	msg := nats.NewMsg(f.pool.cfg.Names.JobSubject(queue, f.source.Batch))
	msg.Data = payload
	for k, v := range headers {
		msg.Header[k] = v
	}
	// The W3C trace context continues into the next stage.
	for _, k := range []string{"traceparent", "tracestate"} {
		if msg.Header.Get(k) == "" && f.source.Headers.Get(k) != "" {
			msg.Header.Set(k, f.source.Headers.Get(k))
		}
	}
	msg.Header.Set(jetpool.HeaderMsgID, id)
	msg.Header.Del(jetpool.HeaderJobID)
	msg.Header.Set(jetpool.HeaderParent, f.source.ID)
	msg.Header.Set(jetpool.HeaderEnqueued, time.Now().UTC().Format(time.RFC3339Nano))
	if _, err := f.pool.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(f.pool.cfg.Names.WorkStream())); err != nil {
		return "", fmt.Errorf("forward job %s to queue %s: %w", id, queue, err)
	}
	f.pool.stats.forwarded.Add(1)
	return id, nil
}
