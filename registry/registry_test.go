package registry_test

import (
	"context"
	"github.com/jetpool/jetpool/topology"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/registry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Two workers are listed with their slots; one that stops announcing
// (a crashed process) disappears within the TTL; one that stops cleanly
// disappears at once.
func TestRegistryListsLiveWorkers(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{WorkerTTL: time.Second}, "q"))
	names := jetpool.DefaultNames()

	workers, err := registry.List(ctx, env.JS, names)
	require.NoError(t, err)
	assert.Empty(t, workers)

	crashed, err := registry.NewAnnouncer(ctx, env.JS, names, registry.Worker{Queue: "q", Concurrency: 8, PID: 1}, nil, env.Log)
	require.NoError(t, err)
	require.NoError(t, crashed.Announce(ctx))
	live, err := registry.NewAnnouncer(ctx, env.JS, names, registry.Worker{Queue: "q", Concurrency: 4, PID: 2}, func() int { return 3 }, env.Log)
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { live.Run(runCtx); close(done) }()

	natstest.Eventually(t, 5*time.Second, func() bool {
		workers, err = registry.List(ctx, env.JS, names)
		return err == nil && len(workers) == 2
	}, "two workers listed")
	assert.Equal(t, 8, workers[0].Concurrency)
	assert.Equal(t, 4, workers[1].Concurrency)
	assert.Equal(t, 3, workers[1].Running)

	// The crashed one never announces again: gone within the TTL, while the
	// live one stays.
	start := time.Now()
	natstest.Eventually(t, 5*time.Second, func() bool {
		workers, err = registry.List(ctx, env.JS, names)
		return err == nil && len(workers) == 1
	}, "the silent worker expires")
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.Equal(t, 2, workers[0].PID)

	stop()
	<-done
	workers, err = registry.List(ctx, env.JS, names)
	require.NoError(t, err)
	assert.Empty(t, workers, "a worker that stops leaves the list at once")
}

// An announcement carries the completed count and the rate over the last
// minute.
func TestAnnouncementsCarryARate(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{}, "q"))
	names := jetpool.DefaultNames()
	var done uint64
	a, err := registry.NewAnnouncer(ctx, env.JS, names, registry.Worker{Queue: "q", Concurrency: 1}, nil, env.Log)
	require.NoError(t, err)
	a.CountCompleted(func() uint64 { return done })
	// The announcer's own interval lies between the start of the first
	// Announce and the end of the second, and lasts at least the wait.
	began := time.Now()
	require.NoError(t, a.Announce(ctx))
	announced := time.Now()
	natstest.Eventually(t, time.Second, func() bool { return time.Since(announced) >= 100*time.Millisecond }, "time passes")
	done = 30
	require.NoError(t, a.Announce(ctx))
	elapsed := time.Since(began)
	workers, err := registry.List(ctx, env.JS, names)
	require.NoError(t, err)
	require.Len(t, workers, 1)
	assert.Equal(t, uint64(30), workers[0].Completed)
	assert.Greater(t, workers[0].PerMinute, 0.0)
	assert.LessOrEqual(t, workers[0].PerMinute, 30/(100*time.Millisecond).Minutes()+1, "30 jobs in at least 100 ms")
	// Announcements are stamped with the wall clock, the test measures with
	// the monotonic one: they may differ by a little.
	assert.GreaterOrEqual(t, workers[0].PerMinute, 0.99*30/elapsed.Minutes())
}
