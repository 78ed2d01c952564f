package consumer

import (
	"context"
	"errors"
	"hash/fnv"
	"io"
	"strconv"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/internal/kvcas"
	"github.com/nats-io/nats.go/jetstream"
)

// returnTimeout bounds each read or write of the return bucket.
const returnTimeout = 2 * time.Second

// returns counts, per job message, the deliveries a pool gave back without
// starting them (the jobs it held when it stopped). JetStream counts every
// delivery; a job's attempt is its deliveries less its returns, so a job
// returned unstarted is not charged an attempt. A nil kv (the bucket is
// missing: an installation provisioned before it existed) counts nothing,
// and every delivery is an attempt.
type returns struct {
	kv    jetstream.KeyValue
	queue string
}

// key is <queue>.<stream sequence>.<job ID hash>: a worker's permissions
// can be limited to its own queues' counts, and a count left by a message
// of a deleted stream never applies to another job at the same sequence.
func (r returns) key(streamSeq uint64, jobID string) string {
	return r.queue + "." + strconv.FormatUint(streamSeq, 10) + "." + strconv.FormatUint(fnv64a(jobID), 16)
}

// fnv64a is the 64-bit FNV-1a hash of s.
func fnv64a(s string) uint64 {
	h := fnv.New64a()
	_, _ = io.WriteString(h, s) // a hash.Hash never fails to write
	return h.Sum64()
}

// add records one more unstarted delivery of job jobID, the message at
// streamSeq, within ctx. It must happen before the message goes back, so
// that its next delivery sees the count.
func (r returns) add(ctx context.Context, streamSeq uint64, jobID string) error {
	if r.kv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, returnTimeout)
	defer cancel()
	key := r.key(streamSeq, jobID)
	// Most returns are a message's first: try that in one request.
	_, err := r.kv.Create(ctx, key, []byte("1"))
	for err != nil && ctx.Err() == nil && kvcas.Conflict(err) {
		// Returned before, or by another pool meanwhile: count one more.
		var e jetstream.KeyValueEntry
		if e, err = r.kv.Get(ctx, key); errors.Is(err, jetstream.ErrKeyNotFound) {
			_, err = r.kv.Create(ctx, key, []byte("1"))
			continue
		}
		if err != nil {
			return err
		}
		n, _ := strconv.ParseUint(string(e.Value()), 10, 64)
		_, err = r.kv.Update(ctx, key, []byte(strconv.FormatUint(n+1, 10)), e.Revision())
	}
	return err
}

// count is how many of the deliveries of the message at streamSeq were
// returned unstarted. Only a redelivery can have any: the first delivery
// costs no lookup.
func (r returns) count(meta *jetstream.MsgMetadata, jobID string) (int, error) {
	if r.kv == nil || meta == nil || meta.NumDelivered < 2 {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), returnTimeout)
	defer cancel()
	e, err := r.kv.Get(ctx, r.key(meta.Sequence.Stream, jobID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(string(e.Value()))
	if err != nil {
		return 0, err
	}
	// Never more than the deliveries before this one.
	return min(n, int(meta.NumDelivered)-1), nil
}

// forget drops the count of a message that is settled for good.
func (r returns) forget(streamSeq uint64, jobID string) error {
	if r.kv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), returnTimeout)
	defer cancel()
	return r.kv.Purge(ctx, r.key(streamSeq, jobID))
}

// openReturns opens the return bucket for queue; a missing bucket counts
// nothing.
func openReturns(ctx context.Context, js jetstream.JetStream, names jetpool.Names, queue string) (returns, error) {
	kv, err := js.KeyValue(ctx, names.ReturnBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return returns{}, nil
	}
	return returns{kv: kv, queue: queue}, err
}
