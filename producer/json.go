package producer

import (
	"context"
	"encoding/json"
	"fmt"
)

// EnqueueJSON enqueues v, encoded as JSON, as one job on queue: a typed
// job, which a worker's jetpool.JSONHandler[T] decodes into a T. It is
// [Producer.Enqueue] otherwise, options included.
func EnqueueJSON[T any](ctx context.Context, p *Producer, queue string, v T, opts ...EnqueueOption) (string, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode job for queue %s: %w", queue, err)
	}
	return p.Enqueue(ctx, queue, payload, opts...)
}

// JSONItem returns a batch item whose payload is v encoded as JSON, for
// [Producer.EnqueueBatch] and a manager's Source.
func JSONItem[T any](id string, v T) (Item, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return Item{}, fmt.Errorf("encode job %s: %w", id, err)
	}
	return Item{ID: id, Payload: payload}, nil
}
