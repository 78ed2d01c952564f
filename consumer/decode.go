package consumer

import (
	"fmt"
	"strconv"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/nats-io/nats.go/jetstream"
)

// decode builds the job a handler sees from a delivered message.
func decode(names jetpool.Names, msg jetstream.Msg) (*jetpool.Job, *jetstream.MsgMetadata, error) {
	h := msg.Headers()
	job := &jetpool.Job{Payload: msg.Data(), Headers: h}
	job.ID = h.Get(jetpool.HeaderJobID)
	if job.ID == "" {
		job.ID = h.Get(jetpool.HeaderMsgID)
	}
	meta, err := msg.Metadata()
	if err != nil {
		return job, nil, fmt.Errorf("read delivery metadata: %w", err)
	}
	if job.ID == "" {
		job.ID = "seq-" + strconv.FormatUint(meta.Sequence.Stream, 10)
	}
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
