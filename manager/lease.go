package manager

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// lease is a leader lease on one key of the lease bucket: held by whoever
// created the key last, renewed by updates at the same revision, lost when
// its holder stops renewing for the bucket's TTL.
type lease struct {
	kv    jetstream.KeyValue
	key   string
	owner string
	ttl   time.Duration

	rev    uint64
	leader atomic.Bool
}

func newLease(ctx context.Context, kv jetstream.KeyValue, key, owner string) (*lease, error) {
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("lease bucket status: %w", err)
	}
	ttl := st.TTL()
	if ttl <= 0 {
		return nil, fmt.Errorf("lease bucket %s has no TTL: a dead leader would never be replaced", st.Bucket())
	}
	return &lease{kv: kv, key: key, owner: owner, ttl: ttl}, nil
}

// tick takes the lease when free or renews it when held. It reports whether
// this owner leads now.
func (l *lease) tick(ctx context.Context) (bool, error) {
	if l.leader.Load() {
		rev, err := l.kv.Update(ctx, l.key, []byte(l.owner), l.rev)
		if err == nil {
			l.rev = rev
			return true, nil
		}
		l.leader.Store(false)
		return false, fmt.Errorf("renew lease %s: %w", l.key, err)
	}
	rev, err := l.kv.Create(ctx, l.key, []byte(l.owner))
	if err == nil {
		l.rev = rev
		l.leader.Store(true)
		return true, nil
	}
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	return false, fmt.Errorf("take lease %s: %w", l.key, err)
}

// release gives the lease up so that a standby takes over at once.
func (l *lease) release(ctx context.Context) error {
	if !l.leader.Swap(false) {
		return nil
	}
	return l.kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev))
}
