// Package topology creates or updates the streams, consumers and key-value
// buckets jetpool needs. It is idempotent: running it again with the same
// options changes nothing.
package topology

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults for [Options].
const (
	DefaultDuplicates    = 2 * time.Minute
	DefaultAckWait       = 30 * time.Second
	DefaultLeaseTTL      = 10 * time.Second
	DefaultBatchTTL      = 7 * 24 * time.Hour
	DefaultMaxAckPending = 10000
	DefaultMaxMsgSize    = 1 << 20
)

// Options shape the topology. The zero value gives the defaults.
type Options struct {
	Names         jetpool.Names
	Replicas      int           // stream and bucket replicas; 1 when zero
	Duplicates    time.Duration // dedup window of the work stream
	MaxMsgSize    int32         // largest job payload plus headers, bytes
	MaxMsgs       int64         // work stream message limit; 0 for none
	MaxBytes      int64         // work stream byte limit; 0 for none
	AckWait       time.Duration // redelivery delay of an unacknowledged job
	MaxAckPending int           // per-queue limit of unacknowledged jobs
	LeaseTTL      time.Duration // manager leader lease lifetime
	BatchTTL      time.Duration // how long batch manifests are kept
}

// WithDefaults returns o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Duplicates <= 0 {
		o.Duplicates = DefaultDuplicates
	}
	if o.MaxMsgSize <= 0 {
		o.MaxMsgSize = DefaultMaxMsgSize
	}
	if o.AckWait <= 0 {
		o.AckWait = DefaultAckWait
	}
	if o.MaxAckPending <= 0 {
		o.MaxAckPending = DefaultMaxAckPending
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.BatchTTL <= 0 {
		o.BatchTTL = DefaultBatchTTL
	}
	return o
}

// Provision creates or updates the work and dead-letter streams, the key-value
// buckets and one durable consumer per queue.
func Provision(ctx context.Context, js jetstream.JetStream, o Options, queues ...string) error {
	o = o.WithDefaults()
	for _, q := range queues {
		if err := jetpool.ValidateQueue(q); err != nil {
			return err
		}
	}
	if err := EnsureStreams(ctx, js, o); err != nil {
		return err
	}
	if _, err := EnsureBuckets(ctx, js, o); err != nil {
		return err
	}
	for _, q := range queues {
		if _, err := EnsureQueue(ctx, js, o, q, 0); err != nil {
			return err
		}
	}
	return nil
}

// EnsureStreams creates or updates the work and dead-letter streams.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, o Options) error {
	o = o.WithDefaults()
	n := o.Names
	work := jetstream.StreamConfig{
		Name:        n.WorkStream(),
		Description: "jetpool jobs waiting or running",
		Subjects:    []string{n.JobsWildcard()},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardNew,
		Duplicates:  o.Duplicates,
		MaxMsgSize:  o.MaxMsgSize,
		MaxMsgs:     orUnlimited(o.MaxMsgs),
		MaxBytes:    orUnlimited(o.MaxBytes),
		Replicas:    o.Replicas,
	}
	if err := ensureStream(ctx, js, work); err != nil {
		return err
	}
	dead := jetstream.StreamConfig{
		Name:        n.DeadStream(),
		Description: "jetpool dead-lettered jobs",
		Subjects:    []string{n.DeadWildcard()},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardOld,
		Duplicates:  o.Duplicates,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		Replicas:    o.Replicas,
	}
	return ensureStream(ctx, js, dead)
}

// NoJetStream reports whether err means the server has no JetStream.
func NoJetStream(err error) bool {
	return errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) ||
		errors.Is(err, nats.ErrNoResponders)
}

func orUnlimited(v int64) int64 {
	if v <= 0 {
		return -1
	}
	return v
}

func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	_, err := js.CreateOrUpdateStream(ctx, cfg)
	if err == nil {
		return nil
	}
	if NoJetStream(err) {
		return fmt.Errorf("provision stream %s: the NATS server has no JetStream enabled (start nats-server with -js): %w", cfg.Name, err)
	}
	return fmt.Errorf("provision stream %s (subjects %v): conflicts with what the server holds or was refused: %w", cfg.Name, cfg.Subjects, err)
}

// Buckets are the key-value stores jetpool keeps.
type Buckets struct {
	Batches jetstream.KeyValue
	Leases  jetstream.KeyValue
}

// EnsureBuckets creates or updates the batch and lease buckets.
func EnsureBuckets(ctx context.Context, js jetstream.JetStream, o Options) (Buckets, error) {
	o = o.WithDefaults()
	batches, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      o.Names.BatchBucket(),
		Description: "jetpool batch manifests",
		History:     1,
		TTL:         o.BatchTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
	})
	if err != nil {
		return Buckets{}, fmt.Errorf("provision bucket %s: %w", o.Names.BatchBucket(), err)
	}
	leases, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      o.Names.LeaseBucket(),
		Description: "jetpool manager leader leases",
		History:     1,
		TTL:         o.LeaseTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
	})
	if err != nil {
		return Buckets{}, fmt.Errorf("provision bucket %s: %w", o.Names.LeaseBucket(), err)
	}
	return Buckets{Batches: batches, Leases: leases}, nil
}

// Batches opens the batch bucket, creating the topology when it is missing.
// An existing topology is left as it is.
func Batches(ctx context.Context, js jetstream.JetStream, o Options) (jetstream.KeyValue, error) {
	return openBucket(ctx, js, o, o.Names.BatchBucket(), func(b Buckets) jetstream.KeyValue { return b.Batches })
}

// Leases opens the lease bucket, creating the topology when it is missing.
// An existing topology is left as it is.
func Leases(ctx context.Context, js jetstream.JetStream, o Options) (jetstream.KeyValue, error) {
	return openBucket(ctx, js, o, o.Names.LeaseBucket(), func(b Buckets) jetstream.KeyValue { return b.Leases })
}

func openBucket(ctx context.Context, js jetstream.JetStream, o Options, name string, pick func(Buckets) jetstream.KeyValue) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, name)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("open bucket %s: %w", name, err)
	}
	if err := OpenStreams(ctx, js, o); err != nil {
		return nil, err
	}
	b, err := EnsureBuckets(ctx, js, o)
	if err != nil {
		return nil, err
	}
	return pick(b), nil
}

// OpenStreams creates the work and dead-letter streams when the work stream
// is missing, and leaves existing ones as they are.
func OpenStreams(ctx context.Context, js jetstream.JetStream, o Options) error {
	_, err := js.Stream(ctx, o.Names.WorkStream())
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		if NoJetStream(err) {
			return fmt.Errorf("the NATS server has no JetStream enabled (start nats-server with -js): %w", err)
		}
		return fmt.Errorf("look up stream %s: %w", o.Names.WorkStream(), err)
	}
	return EnsureStreams(ctx, js, o)
}

// EnsureQueue returns the durable consumer of queue, creating the streams and
// the consumer when missing. An existing consumer is left as it is, except
// that its MaxAckPending is raised to minAckPending when lower.
func EnsureQueue(ctx context.Context, js jetstream.JetStream, o Options, queue string, minAckPending int) (jetstream.Consumer, error) {
	o = o.WithDefaults()
	if err := jetpool.ValidateQueue(queue); err != nil {
		return nil, err
	}
	n := o.Names
	cons, err := js.Consumer(ctx, n.WorkStream(), n.ConsumerName(queue))
	if err == nil {
		info := cons.CachedInfo()
		if minAckPending <= 0 || info.Config.MaxAckPending >= minAckPending {
			return cons, nil
		}
		cfg := info.Config
		cfg.MaxAckPending = minAckPending
		cons, err = js.UpdateConsumer(ctx, n.WorkStream(), cfg)
		if err != nil {
			return nil, fmt.Errorf("raise MaxAckPending of consumer %s to %d: %w", queue, minAckPending, err)
		}
		return cons, nil
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if err := EnsureStreams(ctx, js, o); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("look up consumer %s on stream %s: %w", queue, n.WorkStream(), err)
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       n.ConsumerName(queue),
		Description:   "jetpool workers of queue " + queue,
		FilterSubject: n.QueueFilter(queue),
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       o.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: max(o.MaxAckPending, minAckPending),
		Replicas:      0,
	}
	cons, err = js.CreateOrUpdateConsumer(ctx, n.WorkStream(), cfg)
	if err != nil {
		return nil, fmt.Errorf("create consumer %s on stream %s: %w", queue, n.WorkStream(), err)
	}
	return cons, nil
}
