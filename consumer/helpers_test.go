package consumer_test

import (
	"context"
	"fmt"
	"github.com/jetpool/jetpool/topology"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

var names = jetpool.DefaultNames()

func setup(t *testing.T, opts topology.Options, queues ...string) *natstest.Env {
	t.Helper()
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, env.JS, opts, queues...))
	return env
}

func publish(t *testing.T, js jetstream.JetStream, queue, batch, id string, payload []byte) {
	t.Helper()
	msg := nats.NewMsg(names.JobSubject(queue, batch))
	msg.Data = payload
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(id))
	require.NoError(t, err)
}

func publishN(t *testing.T, js jetstream.JetStream, queue, batch string, n int) []string {
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("job-%04d", i)
		publish(t, js, queue, batch, ids[i], []byte(ids[i]))
	}
	return ids
}

// startPool starts a pool that is stopped, and checked to stop, at the
// test's end.
func startPool(t *testing.T, env *natstest.Env, cfg consumer.Options, h jetpool.Handler) *consumer.Pool {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = env.Log
	}
	cfg.Handler = h
	p, err := consumer.New(env.JS, cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, p.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, p.Stop(ctx))
	})
	return p
}

func streamMsgs(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	return info.State.Msgs
}

// deadLetters reads every message of the dead-letter stream.
func deadLetters(t *testing.T, js jetstream.JetStream) []jetstream.Msg {
	t.Helper()
	n := streamMsgs(t, js, names.DeadStream())
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, names.DeadStream(), jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	batch, err := c.Fetch(int(n), jetstream.FetchMaxWait(3*time.Second))
	require.NoError(t, err)
	var out []jetstream.Msg
	for m := range batch.Messages() {
		out = append(out, m)
	}
	return out
}
