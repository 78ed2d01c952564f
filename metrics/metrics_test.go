package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool/topology"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/metrics"
	"github.com/jetpool/jetpool/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scrape fetches /metrics and returns the value of each sample line.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		out[line[:i]] = v
	}
	return out
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// The metrics count exactly what a batch did: 7 jobs completed at once, 2
// completed after one retry, 1 dead after 2 attempts: 13 attempts.
func TestMetricsCountWhatABatchDid(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{}, "m"))

	m := metrics.New()
	srv, err := metrics.Serve("127.0.0.1:0", m.Handler())
	require.NoError(t, err)
	defer srv.Shutdown(context.Background())
	base := "http://" + srv.Addr()

	h := jetpool.HandlerFunc(func(_ context.Context, j *jetpool.Job) error {
		switch {
		case j.ID == "poison":
			return errors.New("always fails")
		case strings.HasPrefix(j.ID, "flaky") && j.Attempt == 1:
			return errors.New("fails once")
		}
		return nil
	})
	pool, err := consumer.New(env.JS, consumer.Options{Queue: "m", Concurrency: 1, MaxAttempts: 2, Logger: env.Log,
		Backoff: consumer.Backoff{Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond}, Handler: jetpool.Chain(h, m.Middleware("m"))},
	)
	require.NoError(t, err)
	m.WatchPool("m", pool.Stats)
	p, err := producer.New(env.JS, producer.Options{Logger: env.Log})
	require.NoError(t, err)
	m.WatchProducer(func() metrics.ProducerStats { return metrics.ProducerStats(p.Stats()) })
	m.AddReadiness("nats", metrics.Connected(env.Conn))
	m.AddReadiness("consumer", metrics.ConsumerBound(env.JS, jetpool.DefaultNames(), "m"))

	items := []producer.Item{{ID: "poison"}, {ID: "flaky-1"}, {ID: "flaky-2"}}
	for i := range 7 {
		items = append(items, producer.Item{ID: "fine-" + strconv.Itoa(i)})
	}
	_, err = p.EnqueueBatch(ctx, "m", items, producer.WithBatch("mb"))
	require.NoError(t, err)
	require.NoError(t, pool.Start(ctx))
	r, err := p.Wait(ctx, "mb")
	require.NoError(t, err)
	require.Equal(t, 9, r.Completed)
	require.NoError(t, pool.Stop(ctx))

	qctx, qcancel := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { m.WatchQueues(qctx, env.JS, jetpool.DefaultNames(), time.Hour, env.Log); close(watched) }()
	var s map[string]float64
	natstest.Eventually(t, 10*time.Second, func() bool {
		s = scrape(t, base)
		return s[`jetpool_dead_jobs{queue="m"}`] == 1
	}, "the dead-letter gauge is refreshed")
	qcancel()
	<-watched

	assert.Equal(t, 9.0, s[`jetpool_jobs_completed_total{queue="m"}`])
	assert.Equal(t, 3.0, s[`jetpool_jobs_retried_total{queue="m"}`], "two flaky first attempts and the poison's first")
	assert.Equal(t, 1.0, s[`jetpool_jobs_dead_total{queue="m"}`])
	assert.Equal(t, 4.0, s[`jetpool_jobs_failed_total{queue="m"}`])
	assert.Equal(t, 13.0, s[`jetpool_handler_duration_seconds_count{outcome="ok",queue="m"}`]+s[`jetpool_handler_duration_seconds_count{outcome="error",queue="m"}`], "every attempt timed")
	assert.Equal(t, 0.0, s[`jetpool_jobs_in_flight{queue="m"}`])
	assert.Equal(t, 10.0, s[`jetpool_enqueued_jobs_total`])
	assert.Equal(t, 0.0, s[`jetpool_enqueue_errors_total`])
	assert.Equal(t, 0.0, s[`jetpool_queue_depth{queue="m"}`])

	code, _ := get(t, base+"/healthz")
	assert.Equal(t, http.StatusOK, code)
	code, body := get(t, base+"/readyz")
	assert.Equal(t, http.StatusOK, code, body)
}

// Readiness turns false while the server is down and true when it returns.
func TestReadinessFollowsTheServer(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{}, "r"))
	m := metrics.New()
	m.AddReadiness("nats", metrics.Connected(env.Conn))
	m.AddReadiness("topology", metrics.StreamFound(env.JS, jetpool.DefaultNames()))
	srv, err := metrics.Serve("127.0.0.1:0", m.Handler())
	require.NoError(t, err)
	defer srv.Shutdown(context.Background())
	base := "http://" + srv.Addr()

	code, _ := get(t, base+"/readyz")
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, env.Server.Shutdown(ctx))
	natstest.Eventually(t, 10*time.Second, func() bool { code, _ := get(t, base+"/readyz"); return code == http.StatusServiceUnavailable }, "not ready while down")
	_, body := get(t, base+"/readyz")
	assert.Contains(t, body, "nats")
	code, _ = get(t, base+"/healthz")
	assert.Equal(t, http.StatusOK, code, "alive all the same")
	env.Restart(t)
	natstest.Eventually(t, 20*time.Second, func() bool { code, _ := get(t, base+"/readyz"); return code == http.StatusOK }, "ready again")
}

// A process serving several queues watches each pool; each has its series.
func TestWatchSeveralPools(t *testing.T) {
	m := metrics.New()
	m.WatchPool("a", func() consumer.Stats { return consumer.Stats{Completed: 2} })
	m.WatchPool("b", func() consumer.Stats { return consumer.Stats{Completed: 5, Dead: 1} })
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{`jetpool_jobs_completed_total{queue="a"} 2`, `jetpool_jobs_completed_total{queue="b"} 5`, `jetpool_jobs_dead_total{queue="b"} 1`} {
		assert.Contains(t, body, want)
	}
}
