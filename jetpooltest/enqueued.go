package jetpooltest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/topology"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Enqueued lists the jobs waiting in queue, in the order they were stored:
// those not yet acknowledged by a worker. Each has its ID, Queue, Batch,
// Payload, Headers (jetpool's own included) and, when the producer set it,
// Enqueued; Attempt is zero.
func Enqueued(tb testing.TB, js jetstream.JetStream, queue string) []jetpool.Job {
	tb.Helper()
	return stored(tb, js, jetpool.DefaultNames().QueueFilter(queue))
}

// EnqueuedInBatch lists the jobs of batch still waiting, in every queue, in
// the order they were stored.
func EnqueuedInBatch(tb testing.TB, js jetstream.JetStream, batch string) []jetpool.Job {
	tb.Helper()
	return stored(tb, js, jetpool.DefaultNames().BatchFilter(batch))
}

// stored reads the work stream's messages on the subjects filter matches,
// each with one "next message for subject" request: a work-queue stream
// accepts no second consumer over its subjects.
func stored(tb testing.TB, js jetstream.JetStream, filter string) []jetpool.Job {
	tb.Helper()
	names := jetpool.DefaultNames()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	s, err := topology.OpenWorkStream(ctx, js, names)
	if err != nil {
		tb.Fatalf("jetpooltest: %v", err)
	}
	var jobs []jetpool.Job
	for seq := uint64(1); ; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return jobs
		}
		if err != nil {
			tb.Fatalf("jetpooltest: read the jobs on %s from sequence %d: %v", filter, seq, err)
		}
		seq = m.Sequence + 1
		queue, batch, _ := names.SplitSubject(m.Subject)
		enqueued, _ := time.Parse(time.RFC3339Nano, m.Header.Get(jetpool.HeaderEnqueued))
		jobs = append(jobs, jetpool.Job{ID: jobID(m.Header), Queue: queue, Batch: batch, Payload: m.Data,
			Headers: m.Header, Enqueued: enqueued})
	}
}

// jobID is the job ID of a message: its own header, else its dedup key.
func jobID(h nats.Header) string {
	if id := h.Get(jetpool.HeaderJobID); id != "" {
		return id
	}
	return h.Get(jetpool.HeaderMsgID)
}
