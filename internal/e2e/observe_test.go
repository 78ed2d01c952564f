package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/internal/proctest"
	"github.com/jetpool/jetpool/topology"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func httpGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// counter reads one sample of a Prometheus text exposition.
func counter(t *testing.T, body, sample string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindStringSubmatch(body)
	require.NotNil(t, m, "no sample %s in:\n%s", sample, body)
	v, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	return v
}

type statusJSON struct {
	Queues []struct {
		Queue     string  `json:"queue"`
		Processes int     `json:"processes"`
		Slots     int     `json:"slots"`
		PerMinute float64 `json:"per_minute"`
	} `json:"queues"`
}

func slots(t *testing.T, url, queue string) (processes, slots int) {
	out, code := proctest.Run(t, url, "", "status", "--json")
	require.Equal(t, 0, code)
	var st statusJSON
	require.NoError(t, json.Unmarshal([]byte(out), &st), out)
	for _, q := range st.Queues {
		if q.Queue == queue {
			return q.Processes, q.Slots
		}
	}
	return 0, 0
}

// Two worker processes serve metrics that count exactly what they did,
// are ready, and are listed by status with their slots; one killed with
// SIGKILL leaves the list within the registry's TTL.
func TestWorkersAreObservable(t *testing.T) {
	url := proctest.StartBroker(t, topology.Options{WorkerTTL: 3 * time.Second}, "obs")
	m1, m2 := natstest.FreeAddr(t), natstest.FreeAddr(t)
	w1 := proctest.Start(t, url, nil, "work", "--queue", "obs", "--concurrency", "3", "--metrics", m1, "--builtin", "noop")
	proctest.Start(t, url, nil, "work", "--queue", "obs", "--concurrency", "5", "--metrics", m2, "--builtin", "noop")

	natstest.Eventually(t, 20*time.Second, func() bool { p, s := slots(t, url, "obs"); return p == 2 && s == 8 }, "two processes, 8 slots")
	for _, m := range []string{m1, m2} {
		natstest.Eventually(t, 10*time.Second, func() bool { code, _ := httpGet("http://" + m + "/readyz"); return code == 200 }, "ready")
		code, _ := httpGet("http://" + m + "/healthz")
		assert.Equal(t, 200, code)
	}

	const n = 40
	var in string
	for i := range n {
		in += fmt.Sprintf("job %d\n", i)
	}
	_, code := proctest.Run(t, url, in, "enqueue", "obs", "-", "--batch", "ob")
	require.Equal(t, 0, code)
	r, code := proctest.WaitBatch(t, url, "ob")
	require.Equal(t, 0, code)
	require.Equal(t, n, r.Completed)
	total := 0.0
	for _, m := range []string{m1, m2} {
		_, body := httpGet("http://" + m + "/metrics")
		total += counter(t, body, `jetpool_jobs_completed_total{queue="obs"}`)
		assert.Zero(t, counter(t, body, `jetpool_jobs_dead_total{queue="obs"}`))
	}
	assert.Equal(t, float64(n), total, "the processes' metrics add up to the batch")
	natstest.Eventually(t, 10*time.Second, func() bool {
		out, code := proctest.Run(t, url, "", "status", "--json")
		var st statusJSON
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
			return false
		}
		for _, q := range st.Queues {
			if q.Queue == "obs" {
				return q.PerMinute > 0
			}
		}
		return false
	}, "status shows the queue's rate over the last minute")

	require.NoError(t, w1.Cmd.Process.Signal(syscall.SIGKILL))
	killed := time.Now()
	natstest.Eventually(t, 15*time.Second, func() bool { p, s := slots(t, url, "obs"); return p == 1 && s == 5 }, "the killed process leaves the list")
	t.Logf("a SIGKILLed worker left the registry %s after the kill (TTL 3s)", time.Since(killed).Round(100*time.Millisecond))
}
