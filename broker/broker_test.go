package broker_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/jetpool/jetpool/topology"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	t.Parallel()
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := topology.Options{MaxMsgSize: 4096}
	require.NoError(t, topology.Provision(ctx, env.JS, opts, "a", "b"))
	first := streamConfigs(t, env.JS)
	require.NoError(t, topology.Provision(ctx, env.JS, opts, "a", "b"))
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
	assert.Equal(t, []string{"jetpool.jobs.*.>"}, cfg.Subjects, "a queue token and a batch token: a publish without a batch is refused")

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
	assert.ErrorContains(t, topology.Provision(ctx, env.JS, opts, "bad queue"), `"bad queue"`)
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
	t.Parallel()
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := env.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "JETPOOL_JOBS", Subjects: []string{"jetpool.jobs.>"}, Retention: jetstream.LimitsPolicy})
	require.NoError(t, err)
	err = topology.Provision(ctx, env.JS, topology.Options{})
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
	err = topology.Provision(ctx, js, topology.Options{})
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

// Three embedded cluster members hold R3 streams, and provisioning through
// any member works.
func TestClusterOfThreeProvisionsR3(t *testing.T) {
	ports := []int{natstest.FreePort(t), natstest.FreePort(t), natstest.FreePort(t)}
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
		err = topology.Provision(ctx, js, topology.Options{Replicas: 3}, "q")
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

// startQuiet starts a broker on store and shuts it down at the test's end.
func startQuiet(t *testing.T, o broker.Options) *broker.Server {
	t.Helper()
	if o.Logger == nil {
		o.Logger = natstest.Logger(t, slog.LevelWarn)
	}
	srv, err := broker.Start(o)
	require.NoError(t, err)
	t.Cleanup(func() { shutdown(t, srv) })
	return srv
}

func shutdown(t *testing.T, srv *broker.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	assert.NoError(t, srv.Shutdown(ctx))
}

// A second broker on a store in use fails at once naming the directory and
// the holder, and the store is free again once the first has shut down.
func TestSecondBrokerOnOneStoreFailsAtOnce(t *testing.T) {
	store := filepath.Join(t.TempDir(), "store")
	log := natstest.Logger(t, slog.LevelWarn)
	first, err := broker.Start(broker.Options{StoreDir: store, Logger: log})
	require.NoError(t, err, "Start creates the store directory")

	begin := time.Now()
	_, err = broker.Start(broker.Options{StoreDir: store, Logger: log})
	require.Error(t, err)
	assert.Less(t, time.Since(begin), 2*time.Second)
	assert.ErrorContains(t, err, "store directory "+store+" is in use by another broker")
	assert.ErrorContains(t, err, fmt.Sprintf("(pid %d)", os.Getpid()))

	url := first.ClientURL()
	shutdown(t, first)
	again := startQuiet(t, broker.Options{StoreDir: store, Listen: strings.TrimPrefix(url, "nats://")})
	assert.Equal(t, url, again.ClientURL(), "the restarted broker is on the same port")
}

// A busy client, cluster or monitoring address fails at once, naming the
// address and the cause, and leaves the store free.
func TestStartOnBusyAddressFailsAtOnce(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	addr := busy.Addr().String()
	for _, tc := range []struct {
		name string
		opts broker.Options
	}{
		{"client", broker.Options{Listen: addr}},
		{"cluster", broker.Options{ClusterName: "c", ClusterListen: addr, ServerName: "n1", Routes: []string{"nats://" + addr}}},
		{"http", broker.Options{HTTP: addr}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.StoreDir = t.TempDir()
			o.Logger = natstest.Logger(t, slog.LevelError+1)
			o.ReadyTimeout = 30 * time.Second
			begin := time.Now()
			_, err := broker.Start(o)
			require.Error(t, err)
			assert.Less(t, time.Since(begin), 3*time.Second, "no wait for the ready timeout")
			assert.ErrorContains(t, err, addr)
			assert.ErrorContains(t, err, "address already in use")

			startQuiet(t, broker.Options{StoreDir: o.StoreDir})
		})
	}
}

func TestStartOnUnusableStoreNamesIt(t *testing.T) {
	file := filepath.Join(t.TempDir(), "store")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	_, err := broker.Start(broker.Options{StoreDir: file})
	assert.EqualError(t, err, "broker: store directory "+file+" is not a directory")

	under := filepath.Join(file, "sub")
	_, err = broker.Start(broker.Options{StoreDir: under})
	assert.EqualError(t, err, "broker: store directory "+under+" is not usable: not a directory")

	if os.Geteuid() != 0 {
		locked := filepath.Join(t.TempDir(), "ro")
		require.NoError(t, os.Mkdir(locked, 0o500))
		_, err = broker.Start(broker.Options{StoreDir: locked})
		assert.ErrorContains(t, err, "broker: store directory "+locked+" is not usable")
		assert.ErrorContains(t, err, "permission denied")
	}
}

// StartContext returns at once on a context that has ended.
func TestStartContextCancelledBefore(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	store := t.TempDir()
	_, err := broker.StartContext(ctx, broker.Options{StoreDir: store})
	assert.ErrorIs(t, err, context.Canceled)
	startQuiet(t, broker.Options{StoreDir: store})
}

// A cancellation while nats-server is starting stops it, releases the store
// and returns promptly with the context's error.
func TestStartContextCancelledDuringStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The server's first log line cancels, then holds the start up long
	// enough for StartContext to notice before the server is ready.
	log := slog.New(&onFirstLog{once: new(sync.Once), do: func() {
		cancel()
		time.Sleep(500 * time.Millisecond)
	}})
	store := t.TempDir()
	begin := time.Now()
	srv, err := broker.StartContext(ctx, broker.Options{StoreDir: store, Logger: log, ReadyTimeout: time.Minute})
	if srv != nil {
		shutdown(t, srv)
	}
	require.ErrorIs(t, err, context.Canceled)
	assert.ErrorContains(t, err, "start interrupted")
	assert.Less(t, time.Since(begin), 5*time.Second)
	startQuiet(t, broker.Options{StoreDir: store})
}

// A cancellation racing the start either wins or loses, and neither way
// leaves the store locked or a goroutine behind (goleak checks the latter).
func TestStartContextCancelledSoon(t *testing.T) {
	store := t.TempDir()
	for _, after := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), after)
		srv, err := broker.StartContext(ctx, broker.Options{StoreDir: store, Logger: natstest.Logger(t, slog.LevelWarn)})
		cancel()
		if err != nil {
			require.True(t, errors.Is(err, context.DeadlineExceeded), "after %s: %v", after, err)
			continue
		}
		shutdown(t, srv)
	}
	startQuiet(t, broker.Options{StoreDir: store})
}

// onFirstLog runs do on the first record of any level and drops them all.
type onFirstLog struct {
	once *sync.Once
	do   func()
}

func (h *onFirstLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *onFirstLog) Handle(context.Context, slog.Record) error {
	h.once.Do(h.do)
	return nil
}

func (h *onFirstLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *onFirstLog) WithGroup(string) slog.Handler      { return h }
