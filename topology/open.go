package topology

import (
	"context"
	"errors"
	"fmt"

	"github.com/jetpool/jetpool"
	"github.com/nats-io/nats.go/jetstream"
)

// MissingError reports a stream, bucket or consumer that does not exist. It
// unwraps to jetstream.ErrStreamNotFound, ErrBucketNotFound or
// ErrConsumerNotFound.
type MissingError struct {
	Kind   string // "stream", "bucket" or "consumer"
	Name   string
	Stream string // the stream of a consumer
	Err    error
}

func (e *MissingError) Error() string {
	if e.Kind == "consumer" {
		return fmt.Sprintf("consumer %s of stream %s not found", e.Name, e.Stream)
	}
	return fmt.Sprintf("%s %s not found", e.Kind, e.Name)
}

func (e *MissingError) Unwrap() error { return e.Err }

// OpenWorkStream opens the work stream; it never creates it.
func OpenWorkStream(ctx context.Context, js jetstream.JetStream, n jetpool.Names) (jetstream.Stream, error) {
	return openStream(ctx, js, n.WorkStream())
}

// OpenDeadStream opens the dead-letter stream; it never creates it.
func OpenDeadStream(ctx context.Context, js jetstream.JetStream, n jetpool.Names) (jetstream.Stream, error) {
	return openStream(ctx, js, n.DeadStream())
}

// OpenStreams opens the work and dead-letter streams; it never creates them.
func OpenStreams(ctx context.Context, js jetstream.JetStream, n jetpool.Names) (work, dead jetstream.Stream, err error) {
	if work, err = OpenWorkStream(ctx, js, n); err != nil {
		return nil, nil, err
	}
	if dead, err = OpenDeadStream(ctx, js, n); err != nil {
		return nil, nil, err
	}
	return work, dead, nil
}

func openStream(ctx context.Context, js jetstream.JetStream, name string) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, name)
	switch {
	case err == nil:
		return s, nil
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, &MissingError{Kind: "stream", Name: name, Err: err}
	default:
		return nil, fmt.Errorf("open stream %s: %w", name, err)
	}
}

// OpenBatches opens the batch bucket; it never creates it.
func OpenBatches(ctx context.Context, js jetstream.JetStream, n jetpool.Names) (jetstream.KeyValue, error) {
	return openBucket(ctx, js, n.BatchBucket())
}

// OpenLeases opens the lease bucket; it never creates it.
func OpenLeases(ctx context.Context, js jetstream.JetStream, n jetpool.Names) (jetstream.KeyValue, error) {
	return openBucket(ctx, js, n.LeaseBucket())
}

func openBucket(ctx context.Context, js jetstream.JetStream, name string) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, name)
	switch {
	case err == nil:
		return kv, nil
	case errors.Is(err, jetstream.ErrBucketNotFound):
		return nil, &MissingError{Kind: "bucket", Name: name, Err: err}
	default:
		return nil, fmt.Errorf("open bucket %s: %w", name, err)
	}
}

// OpenQueue opens the durable consumer of queue; it never creates a stream
// or a consumer. Its MaxAckPending is raised to minAckPending when lower.
func OpenQueue(ctx context.Context, js jetstream.JetStream, o Options, queue string, minAckPending int) (jetstream.Consumer, error) {
	if err := jetpool.ValidateQueue(queue); err != nil {
		return nil, err
	}
	cons, err := openConsumer(ctx, js, o.Names, queue)
	if err != nil {
		return nil, err
	}
	return raiseAckPending(ctx, js, o, queue, cons, minAckPending)
}

func openConsumer(ctx context.Context, js jetstream.JetStream, n jetpool.Names, queue string) (jetstream.Consumer, error) {
	cons, err := js.Consumer(ctx, n.WorkStream(), n.ConsumerName(queue))
	switch {
	case err == nil:
		return cons, nil
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, &MissingError{Kind: "stream", Name: n.WorkStream(), Err: err}
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, &MissingError{Kind: "consumer", Name: n.ConsumerName(queue), Stream: n.WorkStream(), Err: err}
	default:
		return nil, fmt.Errorf("open consumer %s of stream %s: %w", n.ConsumerName(queue), n.WorkStream(), err)
	}
}

// CreateQueue opens the durable consumer of queue, creating it when missing
// on an existing work stream; it never creates a stream. A consumer takes its
// replicas from the stream, and it is only ever created, never updated (but
// for raising MaxAckPending to minAckPending): when provisioning creates it
// at the same time, provisioning's configuration wins.
func CreateQueue(ctx context.Context, js jetstream.JetStream, o Options, queue string, minAckPending int) (jetstream.Consumer, error) {
	if err := jetpool.ValidateQueue(queue); err != nil {
		return nil, err
	}
	cons, err := createConsumer(ctx, js, o, queue, minAckPending)
	if err != nil {
		return nil, err
	}
	return raiseAckPending(ctx, js, o, queue, cons, minAckPending)
}

// createConsumer opens queue's consumer, creating it when missing.
func createConsumer(ctx context.Context, js jetstream.JetStream, o Options, queue string, minAckPending int) (jetstream.Consumer, error) {
	cons, err := openConsumer(ctx, js, o.Names, queue)
	if err == nil || !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return cons, err
	}
	cfg := consumerConfig(o, queue, minAckPending)
	cons, err = js.CreateConsumer(ctx, o.Names.WorkStream(), cfg)
	switch {
	case err == nil:
		return cons, nil
	case errors.Is(err, jetstream.ErrConsumerExists):
		return openConsumer(ctx, js, o.Names, queue) // created meanwhile, differently
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, &MissingError{Kind: "stream", Name: o.Names.WorkStream(), Err: err}
	default:
		return nil, fmt.Errorf("create consumer %s on stream %s: %w", cfg.Durable, o.Names.WorkStream(), err)
	}
}

// CreateMissing creates, configured as [Provision] would, the streams,
// buckets and queue consumers that do not exist, and leaves those that do as
// they are: unlike Provision it never updates anything, so it cannot undo
// what `jetpool provision` set up, even when both run at once. It is for
// workers and producers told to provision.
func CreateMissing(ctx context.Context, js jetstream.JetStream, o Options, queues ...string) error {
	o = o.WithDefaults()
	for _, q := range queues {
		if err := jetpool.ValidateQueue(q); err != nil {
			return err
		}
	}
	work, dead := streamConfigs(o)
	for _, cfg := range []jetstream.StreamConfig{work, dead} {
		if err := createStream(ctx, js, cfg); err != nil {
			return err
		}
	}
	for _, cfg := range bucketConfigs(o) {
		if err := createBucket(ctx, js, cfg); err != nil {
			return err
		}
	}
	for _, q := range queues {
		if _, err := createConsumer(ctx, js, o, q, 0); err != nil {
			return err
		}
	}
	return nil
}

func createStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	_, err := openStream(ctx, js, cfg.Name)
	if err == nil || !errors.Is(err, jetstream.ErrStreamNotFound) {
		return err
	}
	_, err = js.CreateStream(ctx, cfg)
	if err == nil || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return nil
	}
	return streamError(cfg, err)
}

func createBucket(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) error {
	_, err := openBucket(ctx, js, cfg.Bucket)
	if err == nil || !errors.Is(err, jetstream.ErrBucketNotFound) {
		return err
	}
	_, err = js.CreateKeyValue(ctx, cfg)
	if err == nil || errors.Is(err, jetstream.ErrBucketExists) {
		return nil
	}
	return fmt.Errorf("provision bucket %s: %w", cfg.Bucket, err)
}
