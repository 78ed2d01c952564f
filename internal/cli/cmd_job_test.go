package cli

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/jetpool/jetpool/topology"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/internal/locate"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// job show says where a job is in each of its states: pending (found in
// its batch without a whole-stream scan), in flight (delivered and not
// acknowledged), dead (with its letter), and gone once completed or when
// never enqueued.
func TestJobShowSaysWhereAJobIs(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{}, "q", "doomed"))
	url := env.Server.ClientURL()
	show := func(id string) locate.Location {
		t.Helper()
		res := runJetpool(t, ctx, "", "--nats-url", url, "job", "show", id, "--json")
		require.Equal(t, ExitOK, res.code, res.stderr)
		var loc locate.Location
		require.NoError(t, json.Unmarshal([]byte(res.stdout), &loc))
		return loc
	}

	// Other batches' jobs around it: the batch filter skips them.
	require.Equal(t, ExitOK, runJetpool(t, ctx, "a\nb\nc\n", "--nats-url", url, "enqueue", "q", "-", "--batch", "other").code)
	require.Equal(t, ExitOK, runJetpool(t, ctx, "x\ny\n", "--nats-url", url, "enqueue", "q", "-", "--batch", "mine").code)
	loc := show("mine-2")
	assert.Equal(t, locate.Pending, loc.State)
	assert.Equal(t, "q", loc.Queue)
	assert.Equal(t, "mine", loc.Batch)
	assert.False(t, loc.Delivered)
	assert.Equal(t, 2, loc.Scanned, "only the batch's messages were read")

	// Delivered and not acknowledged: in flight.
	c, err := env.JS.Consumer(ctx, jetpool.DefaultNames().WorkStream(), "q")
	require.NoError(t, err)
	b, err := c.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	var held jetstream.Msg
	for m := range b.Messages() {
		held = m
	}
	require.NotNil(t, held)
	heldID := held.Headers().Get(jetpool.HeaderMsgID)
	loc = show(heldID)
	assert.Equal(t, locate.InFlight, loc.State, "job %s was fetched and not acked", heldID)
	assert.True(t, loc.Delivered)
	res := runJetpool(t, ctx, "", "--nats-url", url, "job", "show", heldID)
	require.Equal(t, ExitOK, res.code)
	assert.Contains(t, res.stdout, "in flight")
	require.NoError(t, held.Ack())

	// Running: a live worker lists it.
	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{}, "slow"))
	require.Equal(t, ExitOK, runJetpool(t, ctx, "", "--nats-url", url, "enqueue", "slow", "sleepy", "--id", "s1").code)
	startWorker(t, url, "--queue", "slow", "--builtin", "sleep=1m", "--grace", "1s")
	natstest.Eventually(t, 30*time.Second, func() bool { return show("s1").State == locate.Running }, "job s1 shown running")
	loc = show("s1")
	require.NotNil(t, loc.Worker)
	assert.Equal(t, "slow", loc.Worker.Queue)
	assert.Equal(t, os.Getpid(), loc.Worker.PID, "the worker in this process")
	assert.False(t, loc.Enqueued.IsZero(), "the stream's timestamp when no header gives the enqueue time")
	res = runJetpool(t, ctx, "", "--nats-url", url, "job", "show", "s1")
	require.Equal(t, ExitOK, res.code)
	assert.Contains(t, res.stdout, "running")
	assert.Contains(t, res.stdout, loc.Worker.ID)

	// Dead: its letter.
	require.Equal(t, ExitOK, runJetpool(t, ctx, "", "--nats-url", url, "enqueue", "doomed", "poison", "--id", "d1").code)
	startWorker(t, url, "--queue", "doomed", "--builtin", "fail=1", "--max-attempts", "1")
	natstest.Eventually(t, 30*time.Second, func() bool { return show("d1").State == locate.Dead }, "job d1 dead-lettered")
	loc = show("d1")
	require.NotNil(t, loc.Letter)
	assert.Equal(t, "doomed", loc.Queue)
	assert.Equal(t, "poison", string(loc.Letter.Payload))
	assert.Equal(t, 1, loc.Letter.Attempts)
	assert.NotEmpty(t, loc.Letter.Error)

	// Completed: gone; never enqueued: gone.
	startWorker(t, url, "--queue", "q", "--builtin", "noop")
	natstest.Eventually(t, 30*time.Second, func() bool { return show("mine-2").State == locate.Gone }, "job mine-2 completed")
	assert.Equal(t, locate.Gone, show("never-1").State)
	res = runJetpool(t, ctx, "", "--nats-url", url, "job", "show", "bad.id")
	assert.Equal(t, ExitUsage, res.code, "an invalid ID is a usage error naming it: %s", res.stderr)
}
