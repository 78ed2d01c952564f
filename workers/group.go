// Package workers runs the worker pools of several queues in one process,
// on one connection, as one: what an asynq server does for many task types.
// Each queue keeps its own configuration (concurrency, timeout, attempts)
// and handler.
package workers

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jetpool/jetpool/consumer"
	"github.com/nats-io/nats.go/jetstream"
)

// Group is the worker pools of several queues, started and stopped
// together.
type Group struct {
	queues  []string
	pools   []*consumer.Pool
	stopped chan struct{}
	once    sync.Once
}

// New returns a group with one pool per queue, all on js: each of queues is
// the options of one queue's pool, as [consumer.New] takes them (Queue names
// the queue, Handler runs its jobs). Each queue may appear once.
func New(js jetstream.JetStream, queues ...consumer.Options) (*Group, error) {
	if len(queues) == 0 {
		return nil, errors.New("workers: no queue to serve")
	}
	g := &Group{stopped: make(chan struct{})}
	seen := make(map[string]bool, len(queues))
	for _, q := range queues {
		name := q.Queue
		if seen[name] {
			return nil, fmt.Errorf("workers: queue %s given twice", name)
		}
		seen[name] = true
		p, err := consumer.New(js, q)
		if err != nil {
			return nil, fmt.Errorf("workers: queue %s: %w", name, err)
		}
		g.queues = append(g.queues, name)
		g.pools = append(g.pools, p)
	}
	return g, nil
}

// Start starts every pool at once, so that one waiting for its consumer
// does not hold back the others, and returns when all have started. When
// any fails, it stops those that started and returns every failure.
func (g *Group) Start(ctx context.Context) error {
	errs := make([]error, len(g.pools))
	var wg sync.WaitGroup
	for i, p := range g.pools {
		wg.Go(func() { errs[i] = p.Start(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		_ = g.Stop(context.WithoutCancel(ctx))
		return err
	}
	return nil
}

// Stop stops every pool at once, each as [consumer.Pool.Stop] does (running
// jobs get their grace), and returns when all have stopped or ctx ends,
// with every pool's error. It is safe to call more than once.
func (g *Group) Stop(ctx context.Context) error {
	errs := make([]error, len(g.pools))
	var wg sync.WaitGroup
	for i, p := range g.pools {
		wg.Go(func() { errs[i] = p.Stop(ctx) })
	}
	g.once.Do(func() {
		go func() {
			for _, p := range g.pools {
				<-p.Stopped()
			}
			close(g.stopped)
		}()
	})
	wg.Wait()
	return errors.Join(errs...)
}

// Run starts the group, runs until ctx ends, then stops it gracefully.
func (g *Group) Run(ctx context.Context) error {
	if err := g.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return g.Stop(context.WithoutCancel(ctx))
}

// Stopped is closed once every pool has fully stopped.
func (g *Group) Stopped() <-chan struct{} { return g.stopped }

// Queues names the queues served, in the order given to [New].
func (g *Group) Queues() []string { return append([]string(nil), g.queues...) }

// Pool returns the pool of queue, for its Stats; nil when the group does
// not serve queue.
func (g *Group) Pool(queue string) *consumer.Pool {
	for i, q := range g.queues {
		if q == queue {
			return g.pools[i]
		}
	}
	return nil
}
