package jetpool

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
)

// Header names jetpool reads and writes on job messages. Any NATS client can
// enqueue a job by publishing the payload to [Names.JobSubject] with
// Nats-Msg-Id set to the job ID; the other headers are optional.
const (
	HeaderMsgID    = "Nats-Msg-Id"      // dedup key, normally the job ID
	HeaderJobID    = "Jetpool-Job-Id"   // the job ID when it differs from Nats-Msg-Id (a retried dead job)
	HeaderEnqueued = "Jetpool-Enqueued" // RFC 3339 enqueue time
	HeaderParent   = "Jetpool-Parent"   // the ID of the job that forwarded this one
	HeaderError    = "Jetpool-Error"    // dead letters: the last error
	HeaderAttempts = "Jetpool-Attempts" // dead letters: deliveries made
	HeaderDeadAt   = "Jetpool-Dead-At"  // dead letters: RFC 3339 time of death
	HeaderQueue    = "Jetpool-Queue"    // dead letters: the queue the job died in
	HeaderBatch    = "Jetpool-Batch"    // dead letters: the batch of the job
)

// Job is one unit of work as a handler sees it.
type Job struct {
	// ID is unique per job and is the deduplication key.
	ID string
	// Queue is the queue the job was taken from.
	Queue string
	// Batch is the batch the job belongs to.
	Batch string
	// Payload is the message body, as the producer gave it.
	Payload []byte
	// Headers are the message headers, jetpool's own included.
	Headers nats.Header
	// Attempt counts the runs of this job, this one included, starting at
	// 1: its deliveries, less those a stopping pool returned unstarted.
	Attempt int
	// Enqueued is when the job was enqueued (zero if unknown).
	Enqueued time.Time

	forward ForwardFunc
}

// ForwardFunc publishes a job derived from the current one to another queue.
// See [Job.Forward].
type ForwardFunc func(ctx context.Context, queue string, payload []byte, headers nats.Header) (string, error)

// Forward enqueues payload as a job on queue, in the same batch as j: a
// pipeline stage. The new job's ID is derived from j's ID, the target queue
// and the number of forwards made so far in this attempt, so a redelivered
// job that forwards again is deduplicated by JetStream instead of creating a
// second job. It returns the new job's ID, and an error when JetStream did
// not acknowledge the publish. It fails when the job was not handed out by a
// worker pool.
func (j *Job) Forward(ctx context.Context, queue string, payload []byte, headers nats.Header) (string, error) {
	if j.forward == nil {
		return "", ErrNoForwarder
	}
	return j.forward(ctx, queue, payload, headers)
}

// WithForwarder returns a copy of j whose Forward calls f. Worker pools use
// it; handlers do not need it except in tests.
func (j Job) WithForwarder(f ForwardFunc) *Job {
	j.forward = f
	return &j
}
