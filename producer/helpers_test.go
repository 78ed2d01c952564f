package producer_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/producer"
	"github.com/jetpool/jetpool/topology"
	"github.com/stretchr/testify/require"
)

func setup(t testing.TB, opts topology.Options, queues ...string) (*natstest.Env, *producer.Producer) {
	t.Helper()
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, env.JS, opts, queues...))
	p, err := producer.New(env.JS, producer.Options{Logger: env.Log})
	require.NoError(t, err)
	return env, p
}

func startPool(t *testing.T, env *natstest.Env, cfg consumer.Options, h jetpool.HandlerFunc) *consumer.Pool {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = env.Log
	}
	if cfg.Backoff.Initial == 0 {
		cfg.Backoff = consumer.Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}
	}
	cfg.Handler = h
	pool, err := consumer.New(env.JS, cfg)
	require.NoError(t, err)
	require.NoError(t, pool.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, pool.Stop(ctx))
	})
	return pool
}

// idSet counts handled job IDs safely across goroutines.
type idSet struct {
	mu sync.Mutex
	m  map[string]int
}

func (s *idSet) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]int{}
	}
	s.m[id]++
}

func (s *idSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (s *idSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id] > 0
}
