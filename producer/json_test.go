package producer_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/producer"
	"github.com/jetpool/jetpool/topology"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type greeting struct {
	Name  string `json:"name"`
	Times int    `json:"times"`
}

// Typed jobs end to end: EnqueueJSON and JSONItem encode, a JSONHandler
// decodes, and a payload that is not a greeting goes to the dead letters.
func TestTypedJobsRoundTrip(t *testing.T) {
	t.Parallel()
	env, p := setup(t, topology.Options{}, "greet")
	var mu sync.Mutex
	var got []greeting
	h := jetpool.JSONHandler(func(_ context.Context, _ *jetpool.Job, g greeting) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, g)
		return nil
	})
	startPool(t, env, consumer.Options{Queue: "greet"}, h.Handle)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	id, err := producer.EnqueueJSON(ctx, p, "greet", greeting{"ann", 2}, producer.WithID("ann"), producer.WithBatch("one"))
	require.NoError(t, err)
	assert.Equal(t, "ann", id)
	r, err := p.Wait(ctx, "one")
	require.NoError(t, err)
	assert.Equal(t, 1, r.Completed)

	bob, err := producer.JSONItem("bob", greeting{"bob", 1})
	require.NoError(t, err)
	b, err := p.EnqueueBatch(ctx, "greet", []producer.Item{bob, {ID: "junk", Payload: []byte("not json")}})
	require.NoError(t, err)
	r, err = b.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, r.Completed)
	assert.Equal(t, 1, r.Dead, "the payload that does not decode is dead at once")
	mu.Lock()
	defer mu.Unlock()
	assert.ElementsMatch(t, []greeting{{"ann", 2}, {"bob", 1}}, got)

	_, err = producer.JSONItem("bad", func() {})
	assert.ErrorContains(t, err, "encode job bad")
	_, err = producer.EnqueueJSON(ctx, p, "greet", make(chan int))
	assert.ErrorContains(t, err, "encode job")
}
