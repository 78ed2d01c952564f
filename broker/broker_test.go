package broker_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/broker"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestProvisionIsIdempotent(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := broker.ProvisionOptions{MaxMsgSize: 4096}
	require.NoError(t, broker.Provision(ctx, env.JS, opts, "a", "b"))
	first := streamConfigs(t, env.JS)
	require.NoError(t, broker.Provision(ctx, env.JS, opts, "a", "b"))
	assert.Equal(t, first, streamConfigs(t, env.JS), "a second provision changes nothing")

	names := jetpool.DefaultNames()
	work, err := env.JS.Stream(ctx, names.WorkStream())
	require.NoError(t, err)
	cfg := work.CachedInfo().Config
	assert.Equal(t, jetstream.WorkQueuePolicy, cfg.Retention)
	assert.Equal(t, jetstream.DiscardNew, cfg.Discard)
	assert.Equal(t, jetstream.FileStorage, cfg.Storage)
	assert.Equal(t, 2*time.Minute, cfg.Duplicates)
	assert.Equal(t, int32(4096), cfg.MaxMsgSize)
	assert.Equal(t, []string{"jetpool.jobs.>"}, cfg.Subjects)

	c, err := env.JS.Consumer(ctx, names.WorkStream(), "a")
	require.NoError(t, err)
	cc := c.CachedInfo().Config
	assert.Equal(t, "jetpool.jobs.a.>", cc.FilterSubject)
	assert.Equal(t, jetstream.AckExplicitPolicy, cc.AckPolicy)
	assert.Equal(t, 30*time.Second, cc.AckWait)

	for _, b := range []string{names.BatchBucket(), names.LeaseBucket()} {
		_, err := env.JS.KeyValue(ctx, b)
		assert.NoError(t, err, b)
	}
	assert.ErrorContains(t, broker.Provision(ctx, env.JS, opts, "bad queue"), `"bad queue"`)
}

func streamConfigs(t *testing.T, js jetstream.JetStream) map[string]jetstream.StreamConfig {
	out := map[string]jetstream.StreamConfig{}
	l := js.ListStreams(context.Background())
	for info := range l.Info() {
		out[info.Config.Name] = info.Config
	}
	require.NoError(t, l.Err())
	return out
}

func TestProvisionRefusesConflictingStream(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := env.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "JETPOOL_JOBS", Subjects: []string{"jetpool.jobs.>"}, Retention: jetstream.LimitsPolicy})
	require.NoError(t, err)
	err = broker.Provision(ctx, env.JS, broker.ProvisionOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "JETPOOL_JOBS")
	assert.Contains(t, err.Error(), "conflicts")
}

func TestProvisionWithoutJetStreamSaysSo(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true})
	require.NoError(t, err)
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	require.True(t, ns.ReadyForConnections(5*time.Second))
	_, js := natstest.Connect(t, ns.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = broker.Provision(ctx, js, broker.ProvisionOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no JetStream")
}

func TestStartValidatesOptions(t *testing.T) {
	_, err := broker.Start(broker.Options{})
	assert.ErrorContains(t, err, "StoreDir")
	_, err = broker.Start(broker.Options{StoreDir: t.TempDir(), Listen: "nohostport"})
	assert.ErrorContains(t, err, `"nohostport"`)
	_, err = broker.Start(broker.Options{StoreDir: t.TempDir(), ClusterName: "c"})
	assert.ErrorContains(t, err, "cluster listen")
	_, err = broker.Start(broker.Options{StoreDir: t.TempDir(), ClusterName: "c", ClusterListen: "127.0.0.1:-1", ServerName: "n", Routes: []string{"::"}})
	assert.ErrorContains(t, err, `"::"`)
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Three embedded cluster members hold R3 streams, and provisioning through
// any member works.
func TestClusterOfThreeProvisionsR3(t *testing.T) {
	ports := []int{freePort(t), freePort(t), freePort(t)}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var servers []*broker.Server
	for i, p := range ports {
		srv, err := broker.Start(broker.Options{
			StoreDir: t.TempDir(), ServerName: fmt.Sprintf("n%d", i+1),
			ClusterName: "jp", ClusterListen: fmt.Sprintf("127.0.0.1:%d", p), Routes: routes,
			Logger: natstest.Logger(t, 12), ReadyTimeout: 20 * time.Second,
		})
		require.NoError(t, err)
		servers = append(servers, srv)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			assert.NoError(t, srv.Shutdown(ctx))
		})
	}
	_, js := natstest.Connect(t, servers[0].ClientURL())
	var err error
	natstest.Eventually(t, 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		err = broker.Provision(ctx, js, broker.ProvisionOptions{Replicas: 3}, "q")
		return err == nil
	}, "provision on a fresh cluster: %v", err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, jetpool.DefaultNames().WorkStream())
	require.NoError(t, err)
	assert.Equal(t, 3, s.CachedInfo().Config.Replicas)
	require.NotNil(t, s.CachedInfo().Cluster)
	assert.Len(t, s.CachedInfo().Cluster.Replicas, 2, "a leader and two replicas")
}
