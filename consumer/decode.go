package consumer

import (
	"fmt"
	"strconv"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// headerJobID is the job ID a message's headers give: its own, else its
// deduplication key.
func headerJobID(h nats.Header) string {
	if id := h.Get(jetpool.HeaderJobID); id != "" {
		return id
	}
	return h.Get(jetpool.HeaderMsgID)
}

// jobID is the ID of the job in a message stored at streamSeq: from its
// headers, else from its sequence (a raw publish without them).
func jobID(h nats.Header, streamSeq uint64) string {
	if id := headerJobID(h); id != "" {
		return id
	}
	return "seq-" + strconv.FormatUint(streamSeq, 10)
}

// decode builds the job a handler sees from a delivered message.
func decode(names jetpool.Names, msg jetstream.Msg) (*jetpool.Job, *jetstream.MsgMetadata, error) {
	h := msg.Headers()
	job := &jetpool.Job{Payload: msg.Data(), Headers: h}
	meta, err := msg.Metadata()
	if err != nil {
		job.ID = headerJobID(h)
		return job, nil, fmt.Errorf("read delivery metadata: %w", err)
	}
	job.ID = jobID(h, meta.Sequence.Stream)
	job.Attempt = int(meta.NumDelivered)
	queue, batch, ok := names.SplitSubject(msg.Subject())
	if !ok {
		return job, meta, fmt.Errorf("subject %q is not a jetpool job subject", msg.Subject())
	}
	job.Queue, job.Batch = queue, batch
	if s := h.Get(jetpool.HeaderEnqueued); s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			job.Enqueued = t
		}
	}
	if job.Enqueued.IsZero() {
		job.Enqueued = meta.Timestamp
	}
	return job, meta, nil
}
