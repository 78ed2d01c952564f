// Package topology creates, updates and opens the streams, consumers and
// key-value buckets jetpool needs.
//
// Only provisioning creates streams and buckets: [Provision] (the `provision`
// command and the embedded broker) creates or updates them idempotently, and
// [CreateMissing] (a worker or producer told to provision) creates what does
// not exist and leaves the rest alone. Every other client opens them with the
// Open functions and a [Waiter], waiting for a provisioned topology instead of
// creating one that races provisioning, say with one replica where the
// cluster's provisioning asks for three.
package topology

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
	DefaultWorkerTTL     = 15 * time.Second
	DefaultMaxAckPending = 10000
	DefaultMaxMsgSize    = 1 << 20
)

// Options shape the topology. The zero value gives the defaults; a field
// left at zero (or negative) takes its default in [Options.WithDefaults].
type Options struct {
	// Names derives every stream, subject, bucket and consumer name from a
	// prefix; the zero value uses [jetpool.DefaultPrefix].
	Names jetpool.Names
	// Replicas is the replica count of the streams and buckets; 1 when zero.
	Replicas int
	// Duplicates is the work stream's deduplication window: an enqueue
	// re-run with the same job IDs inside it creates no second job.
	// Default [DefaultDuplicates].
	Duplicates time.Duration
	// MaxMsgSize is the largest job message, payload plus headers, in bytes.
	// Default [DefaultMaxMsgSize].
	MaxMsgSize int32
	// MaxMsgs limits the messages the work stream holds; 0 for no limit. A
	// full stream refuses an enqueue with an error, never dropping a job.
	MaxMsgs int64
	// MaxBytes limits the bytes the work stream holds; 0 for no limit.
	MaxBytes int64
	// AckWait is how long a delivered job may go unacknowledged (without a
	// heartbeat) before the server redelivers it. Default [DefaultAckWait].
	AckWait time.Duration
	// MaxAckPending is each queue consumer's limit of unacknowledged jobs,
	// at least the total concurrency of the queue's pools.
	// Default [DefaultMaxAckPending].
	MaxAckPending int
	// LeaseTTL is the lifetime of a manager's leader lease.
	// Default [DefaultLeaseTTL].
	LeaseTTL time.Duration
	// BatchTTL is how long batch manifests and reports are kept.
	// Default [DefaultBatchTTL].
	BatchTTL time.Duration
	// WorkerTTL is how long a worker process that stopped announcing itself
	// stays listed. Default [DefaultWorkerTTL].
	WorkerTTL time.Duration
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
	if o.WorkerTTL <= 0 {
		o.WorkerTTL = DefaultWorkerTTL
	}
	return o
}

// Provision creates or updates the work and dead-letter streams, the key-value
// buckets and one durable consumer per queue.
//
// While the cluster cannot yet place replicas (a member still joining: "no
// suitable peers for placement, peer offline") or JetStream answers
// transiently, it tries again, from 100ms to 2s apart, until ctx ends:
// every step is idempotent.
func Provision(ctx context.Context, js jetstream.JetStream, o Options, queues ...string) error {
	for _, q := range queues {
		if err := jetpool.ValidateQueue(q); err != nil {
			return err
		}
	}
	delay := 100 * time.Millisecond
	for {
		err := provision(ctx, js, o, queues...)
		if err == nil || ctx.Err() != nil || !(noPeersYet(err) || Transient(err)) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// noPeersYet reports whether JetStream refused to place replicas because a
// peer it needs is offline (code 10005, "no suitable peers for placement,
// peer offline"): a member still joining the cluster. More replicas than
// members gives the same code without "offline", and fails at once.
func noPeersYet(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == 10005 && strings.Contains(apiErr.Description, "offline")
}

func provision(ctx context.Context, js jetstream.JetStream, o Options, queues ...string) error {
	given := o // EnsureQueue tells a MaxAckPending given from the default
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
		if _, err := EnsureQueue(ctx, js, given, q, 0); err != nil {
			return err
		}
	}
	return nil
}

// EnsureStreams creates or updates the work and dead-letter streams.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, o Options) error {
	work, dead := streamConfigs(o)
	if err := ensureStream(ctx, js, work); err != nil {
		return err
	}
	return ensureStream(ctx, js, dead)
}

// streamConfigs returns the configuration of the work and dead-letter
// streams.
func streamConfigs(o Options) (work, dead jetstream.StreamConfig) {
	o = o.WithDefaults()
	n := o.Names
	work = jetstream.StreamConfig{
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
	dead = jetstream.StreamConfig{
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
	return work, dead
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
	return streamError(cfg, err)
}

func streamError(cfg jetstream.StreamConfig, err error) error {
	if NoJetStream(err) {
		return fmt.Errorf("provision stream %s: the NATS server has no JetStream enabled (start nats-server with -js): %w", cfg.Name, err)
	}
	return fmt.Errorf("provision stream %s (subjects %v): conflicts with what the server holds or was refused: %w", cfg.Name, cfg.Subjects, err)
}

// Buckets are the key-value stores jetpool keeps.
type Buckets struct {
	Batches jetstream.KeyValue
	Leases  jetstream.KeyValue
	Workers jetstream.KeyValue
	Returns jetstream.KeyValue
}

// EnsureBuckets creates or updates the batch, lease, worker and return
// buckets.
func EnsureBuckets(ctx context.Context, js jetstream.JetStream, o Options) (Buckets, error) {
	var kvs []jetstream.KeyValue
	for _, cfg := range bucketConfigs(o) {
		kv, err := js.CreateOrUpdateKeyValue(ctx, cfg)
		if err != nil {
			return Buckets{}, fmt.Errorf("provision bucket %s: %w", cfg.Bucket, err)
		}
		kvs = append(kvs, kv)
	}
	return Buckets{Batches: kvs[0], Leases: kvs[1], Workers: kvs[2], Returns: kvs[3]}, nil
}

// bucketConfigs returns the configuration of the batch, lease, worker and
// return buckets, in that order.
func bucketConfigs(o Options) []jetstream.KeyValueConfig {
	batches, leases := bucketConfigsOf(o)
	workers := jetstream.KeyValueConfig{
		Bucket:      o.Names.WorkerBucket(),
		Description: "jetpool live worker processes",
		History:     1,
		TTL:         o.WithDefaults().WorkerTTL,
		Storage:     jetstream.MemoryStorage,
		Replicas:    o.WithDefaults().Replicas,
	}
	// A job's return count lives as long as a manifest: a job that waits
	// longer than that may be charged a return as an attempt.
	returns := jetstream.KeyValueConfig{
		Bucket:      o.Names.ReturnBucket(),
		Description: "jetpool deliveries returned unstarted, per job message",
		History:     1,
		TTL:         o.WithDefaults().BatchTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    o.WithDefaults().Replicas,
	}
	return []jetstream.KeyValueConfig{batches, leases, workers, returns}
}

func bucketConfigsOf(o Options) (batches, leases jetstream.KeyValueConfig) {
	o = o.WithDefaults()
	batches = jetstream.KeyValueConfig{
		Bucket:      o.Names.BatchBucket(),
		Description: "jetpool batch manifests",
		History:     1,
		TTL:         o.BatchTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
	}
	leases = jetstream.KeyValueConfig{
		Bucket:      o.Names.LeaseBucket(),
		Description: "jetpool manager leader leases",
		History:     1,
		TTL:         o.LeaseTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
	}
	return batches, leases
}

// EnsureQueue returns the durable consumer of queue, creating the streams and
// the consumer when missing. It brings an existing consumer in line with o:
// its AckWait, MaxDeliver, filter and description, and its MaxAckPending,
// which is never set below minAckPending nor, when o leaves it unset, below
// what the consumer has (a pool may have raised it). A setting JetStream
// cannot change on an existing consumer (its deliver or ack policy, push
// delivery), or a change it refuses, is an error naming the consumer and the
// setting. It is for
// provisioning; other clients use [OpenQueue] or [CreateQueue].
func EnsureQueue(ctx context.Context, js jetstream.JetStream, o Options, queue string, minAckPending int) (jetstream.Consumer, error) {
	keepAckPending := o.MaxAckPending <= 0
	o = o.WithDefaults()
	if err := jetpool.ValidateQueue(queue); err != nil {
		return nil, err
	}
	n := o.Names
	cons, err := js.Consumer(ctx, n.WorkStream(), n.ConsumerName(queue))
	if err == nil {
		return updateQueue(ctx, js, o, queue, cons, minAckPending, keepAckPending)
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if err := EnsureStreams(ctx, js, o); err != nil {
			return nil, err
		}
	} else if errors.Is(err, jetstream.ErrNotPullConsumer) {
		return nil, fmt.Errorf("consumer %s of stream %s is a push consumer (DeliverSubject set), and JetStream cannot change DeliverSubject to make it the pull consumer jetpool needs: delete the consumer (nats consumer rm %s %s) and provision again: %w",
			n.ConsumerName(queue), n.WorkStream(), n.WorkStream(), n.ConsumerName(queue), err)
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("look up consumer %s on stream %s: %w", queue, n.WorkStream(), err)
	}
	cons, err = js.CreateOrUpdateConsumer(ctx, n.WorkStream(), consumerConfig(o, queue, minAckPending))
	if err != nil {
		return nil, fmt.Errorf("create consumer %s on stream %s: %w", queue, n.WorkStream(), err)
	}
	return cons, nil
}

// updateQueue updates the settings of queue's existing consumer cons that
// differ from what o asks, as [EnsureQueue] describes; it keeps those
// jetpool does not set.
func updateQueue(ctx context.Context, js jetstream.JetStream, o Options, queue string, cons jetstream.Consumer, minAckPending int, keepAckPending bool) (jetstream.Consumer, error) {
	have := cons.CachedInfo().Config
	want := consumerConfig(o, queue, minAckPending)
	name, stream := want.Durable, o.Names.WorkStream()
	for _, fixed := range []struct {
		setting    string
		have, want any
	}{
		{"DeliverPolicy", have.DeliverPolicy, want.DeliverPolicy},
		{"AckPolicy", have.AckPolicy, want.AckPolicy},
	} {
		if fixed.have != fixed.want {
			return nil, fmt.Errorf("consumer %s of stream %s has %s %q where jetpool needs %q, and JetStream cannot change %s on an existing consumer: delete the consumer (nats consumer rm %s %s) and provision again",
				name, stream, fixed.setting, fmt.Sprint(fixed.have), fmt.Sprint(fixed.want), fixed.setting, stream, name)
		}
	}
	cfg := have
	cfg.Description = want.Description
	cfg.FilterSubject, cfg.FilterSubjects = want.FilterSubject, nil
	cfg.AckWait = want.AckWait
	cfg.MaxDeliver = want.MaxDeliver
	cfg.MaxAckPending = want.MaxAckPending
	if keepAckPending {
		cfg.MaxAckPending = max(cfg.MaxAckPending, have.MaxAckPending)
	}
	var changes []string
	for _, c := range []struct {
		setting    string
		have, want any
	}{
		{"Description", have.Description, cfg.Description},
		{"FilterSubject", have.FilterSubject, cfg.FilterSubject},
		{"FilterSubjects", len(have.FilterSubjects), 0},
		{"AckWait", have.AckWait, cfg.AckWait},
		{"MaxDeliver", have.MaxDeliver, cfg.MaxDeliver},
		{"MaxAckPending", have.MaxAckPending, cfg.MaxAckPending},
	} {
		if c.have != c.want {
			changes = append(changes, fmt.Sprintf("%s %s to %s", c.setting, show(c.have), show(c.want)))
		}
	}
	if len(changes) == 0 {
		return cons, nil
	}
	cons, err := js.UpdateConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("update consumer %s of stream %s (%s): %w", name, stream, strings.Join(changes, ", "), err)
	}
	return cons, nil
}

// show formats a setting's value for a message, quoting strings.
func show(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

// consumerConfig returns the configuration of queue's durable consumer. Its
// replicas follow the work stream's.
func consumerConfig(o Options, queue string, minAckPending int) jetstream.ConsumerConfig {
	o = o.WithDefaults()
	n := o.Names
	return jetstream.ConsumerConfig{
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
}

// raiseAckPending raises the MaxAckPending of an existing consumer to
// minAckPending when lower; it changes nothing else.
func raiseAckPending(ctx context.Context, js jetstream.JetStream, o Options, queue string, cons jetstream.Consumer, minAckPending int) (jetstream.Consumer, error) {
	info := cons.CachedInfo()
	if minAckPending <= 0 || info.Config.MaxAckPending >= minAckPending {
		return cons, nil
	}
	cfg := info.Config
	cfg.MaxAckPending = minAckPending
	cons, err := js.UpdateConsumer(ctx, o.Names.WorkStream(), cfg)
	if err != nil {
		return nil, fmt.Errorf("raise MaxAckPending of consumer %s to %d: %w", queue, minAckPending, err)
	}
	return cons, nil
}
