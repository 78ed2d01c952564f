package topology_test

import (
	"context"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/topology"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Provisioning an existing queue brings its consumer's settings in line
// with the options, as it does the streams': not only MaxAckPending.
func TestProvisionUpdatesExistingConsumer(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info := func() jetstream.ConsumerConfig {
		t.Helper()
		c, err := env.JS.Consumer(ctx, names.WorkStream(), names.ConsumerName("q"))
		require.NoError(t, err)
		return c.CachedInfo().Config
	}

	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{}, "q"))
	assert.Equal(t, topology.DefaultAckWait, info().AckWait)

	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{AckWait: 2 * time.Second, MaxAckPending: 500}, "q"))
	cfg := info()
	assert.Equal(t, 2*time.Second, cfg.AckWait)
	assert.Equal(t, 500, cfg.MaxAckPending, "an explicit MaxAckPending is set, even lower")

	// A pool raised MaxAckPending; provisioning that does not set it keeps it.
	_, err := topology.OpenQueue(ctx, env.JS, topology.Options{Names: names}, "q", 20000)
	require.NoError(t, err)
	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{AckWait: 3 * time.Second}, "q"))
	cfg = info()
	assert.Equal(t, 3*time.Second, cfg.AckWait)
	assert.Equal(t, 20000, cfg.MaxAckPending)

	// Nothing to change: nothing changes.
	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{AckWait: 3 * time.Second}, "q"))
	assert.Equal(t, cfg, info())
}

// A consumer set up with a setting JetStream cannot change, or a change
// JetStream refuses, is an error that names the consumer and the setting.
func TestProvisionRefusesConsumerItCannotUpdate(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, topology.EnsureStreams(ctx, env.JS, topology.Options{}))

	// A push consumer cannot become a pull consumer.
	_, err := env.JS.CreatePushConsumer(ctx, names.WorkStream(), jetstream.ConsumerConfig{
		Durable: "push", FilterSubject: names.QueueFilter("push"), AckPolicy: jetstream.AckExplicitPolicy,
		DeliverSubject: "somewhere",
	})
	require.NoError(t, err)
	err = topology.Provision(ctx, env.JS, topology.Options{}, "push")
	assert.ErrorContains(t, err, "consumer push of stream JETPOOL_JOBS")
	assert.ErrorContains(t, err, "DeliverSubject")

	// A work queue refuses consumers whose filters overlap: "q" narrowed to
	// one batch cannot be widened to the whole queue while "q-batch" reads it.
	for _, c := range []struct{ name, filter string }{{"q", "jetpool.jobs.q.one"}, {"q-batch", "jetpool.jobs.q.two"}} {
		_, err := env.JS.CreateConsumer(ctx, names.WorkStream(), jetstream.ConsumerConfig{
			Durable: c.name, FilterSubject: c.filter, AckPolicy: jetstream.AckExplicitPolicy,
		})
		require.NoError(t, err)
	}
	err = topology.Provision(ctx, env.JS, topology.Options{AckWait: 2 * time.Second}, "q")
	require.Error(t, err)
	assert.ErrorContains(t, err, "update consumer q of stream JETPOOL_JOBS")
	assert.ErrorContains(t, err, `FilterSubject "jetpool.jobs.q.one" to "jetpool.jobs.q.>"`)
}
