package manager_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/topology"
	"github.com/stretchr/testify/require"
)

// setup starts a server and provisions opts with queues.
func setup(t testing.TB, opts topology.Options, queues ...string) *natstest.Env {
	t.Helper()
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, env.JS, opts, queues...))
	return env
}

func consumerCfg(q string, c int) consumer.Options { return consumer.Options{Queue: q, Concurrency: c} }

// startPool runs a worker pool for the test's lifetime.
func startPool(t *testing.T, env *natstest.Env, cfg consumer.Options, h jetpool.HandlerFunc) *consumer.Pool {
	t.Helper()
	cfg.Logger = env.Log
	cfg.Backoff = consumer.Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}
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
