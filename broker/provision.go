package broker

import (
	"context"

	"github.com/jetpool/jetpool/internal/topology"
	"github.com/nats-io/nats.go/jetstream"
)

// ProvisionOptions shape the topology; the zero value gives the defaults
// (replicas 1, a 2 minute dedup window, 30 s AckWait, 1 MiB messages).
type ProvisionOptions = topology.Options

// Provision creates or updates, idempotently, the work stream, the
// dead-letter stream, the batch and lease buckets and one durable consumer
// per queue. It returns a clear error when the server has no JetStream or
// when an existing stream conflicts.
func Provision(ctx context.Context, js jetstream.JetStream, o ProvisionOptions, queues ...string) error {
	return topology.Provision(ctx, js, o, queues...)
}
