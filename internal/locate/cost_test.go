package locate_test

import (
	"context"
	"fmt"
	"github.com/jetpool/jetpool/topology"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/internal/locate"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
)

// TestLookupCost measures a lookup among JETPOOL_LOOKUP_JOBS waiting jobs
// (skipped when unset): a job found within its batch, and one that is in
// no batch its ID names, which reads the whole stream. docs/operations.md
// quotes its figures.
func TestLookupCost(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("JETPOOL_LOOKUP_JOBS"))
	if n <= 0 {
		t.Skip("set JETPOOL_LOOKUP_JOBS=100000 to measure")
	}
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	names := jetpool.DefaultNames()
	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{}, "q"))
	const perBatch = 1000
	for i := range n {
		batch := fmt.Sprintf("b%d", i/perBatch)
		m := nats.NewMsg(names.JobSubject("q", batch))
		m.Header.Set(jetpool.HeaderMsgID, fmt.Sprintf("%s-%d", batch, i%perBatch+1))
		m.Data = []byte(`{"payload":"about a hundred bytes of payload, as a small job would carry in its message body"}`)
		_, err := env.JS.PublishMsgAsync(m)
		require.NoError(t, err)
		if i%5000 == 4999 {
			<-env.JS.PublishAsyncComplete()
		}
	}
	<-env.JS.PublishAsyncComplete()
	f, err := locate.New(env.JS, names)
	require.NoError(t, err)
	for _, id := range []string{fmt.Sprintf("b%d-%d", n/perBatch-1, perBatch), "elsewhere"} {
		start := time.Now()
		loc, err := f.Find(ctx, id)
		require.NoError(t, err)
		t.Logf("find %s among %d waiting jobs: %s, state %s, %d messages read", id, n, time.Since(start).Round(time.Millisecond), loc.State, loc.Scanned)
	}
}
