package dashboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/dashboard"
	"github.com/jetpool/jetpool/internal/cli"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/internal/status"
	"github.com/jetpool/jetpool/producer"
	"github.com/jetpool/jetpool/registry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromium finds a Chromium binary. Without one the browser test skips,
// unless JETPOOL_BROWSER_TESTS is set (as CI sets it): then it fails.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("JETPOOL_BROWSER_TESTS") != "" {
		t.Fatal("JETPOOL_BROWSER_TESTS is set and no chromium binary is on PATH (apt-get install chromium)")
	}
	t.Skip("no chromium binary on PATH: install Debian's chromium to run the browser test (JETPOOL_BROWSER_TESTS=1 makes this a failure)")
	return ""
}

// jetpoolStatus runs `jetpool status --json` against url.
func jetpoolStatus(t *testing.T, url string) status.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := cli.Main(ctx, []string{"--nats-url", url, "status", "--json"}, strings.NewReader(""), &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	var st status.Status
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &st))
	return st
}

// In headless Chromium, against a real broker with a worker running: the
// page loads, its queue numbers match `jetpool status --json`, a dead
// job's retry button gets it processed, the page updates without a
// reload, and no request leaves 127.0.0.1. With
// JETPOOL_DASHBOARD_SCREENSHOT=FILE it saves a screenshot there.
func TestDashboardInBrowser(t *testing.T) {
	exe := chromium(t)
	s := newSite(t, dashboard.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var healed atomic.Bool
	poisonPool(t, s.env, &healed)
	ann, err := registry.NewAnnouncer(ctx, s.env.JS, jetpool.DefaultNames(), registry.Worker{Queue: "q", Concurrency: 4}, nil, s.env.Log)
	require.NoError(t, err)
	require.NoError(t, ann.Announce(ctx))
	p, err := producer.New(s.env.JS, producer.Options{Logger: s.env.Log})
	require.NoError(t, err)
	b, err := p.EnqueueBatch(ctx, "q", []producer.Item{
		{ID: "web-1", Payload: []byte(`{"url":"https://example.com/a"}`)},
		{ID: "web-2", Payload: []byte(`{"url":"https://example.com/b"}`)},
		{ID: "web-3", Payload: []byte(`{"url":"https://example.com/c"}`)},
	}, producer.WithBatch("web"))
	require.NoError(t, err)
	_, err = b.Wait(ctx)
	require.NoError(t, err)
	healed.Store(true)
	_, err = p.EnqueueBatch(ctx, "q", []producer.Item{{ID: "ok-1"}, {ID: "ok-2"}}, producer.WithBatch("ok"))
	require.NoError(t, err)

	actx, acancel := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1400, 1100),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("no-pings", true))...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer bcancel()

	var mu sync.Mutex
	var requests, outside []string
	require.NoError(t, chromedp.Listen(bctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			defer mu.Unlock()
			requests = append(requests, e.Request.URL)
			if !strings.HasPrefix(e.Request.URL, "http://127.0.0.1:") && !strings.HasPrefix(e.Request.URL, "data:") {
				outside = append(outside, e.Request.URL)
			}
		}
	}))
	run := func(actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(bctx, actions...))
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[string](js))
		require.NoError(t, err)
		return v
	}
	cell := func(queue, field string) string {
		return eval(fmt.Sprintf(`(document.querySelector('#queues tr[data-queue=%q] td[data-field=%q]') || {}).textContent || ""`, queue, field))
	}
	run(chromedp.Navigate(s.url), chromedp.WaitVisible(chromedp.CSS(`#queues tbody tr`)))
	eval(`window.loadedOnce = "yes"`)

	// The numbers match jetpool status --json once the queue is quiet.
	natstest.Eventually(t, 30*time.Second, func() bool {
		st := jetpoolStatus(t, s.env.Server.ClientURL())
		for _, q := range st.Queues {
			if q.Queue != "q" {
				continue
			}
			want := map[string]string{
				"pending": strconv.FormatUint(q.Pending, 10), "in_flight": strconv.Itoa(q.InFlight), "awaiting_redelivery": strconv.Itoa(q.Redelivery), "running": strconv.Itoa(q.Running),
				"dead": strconv.Itoa(q.Dead), "processes": strconv.Itoa(q.Processes), "slots": strconv.Itoa(q.Slots),
			}
			for f, v := range want {
				if cell("q", f) != v {
					return false
				}
			}
			return q.Dead == 3 && q.Pending == 0 && q.Processes == 1 && q.Slots == 4
		}
		return false
	}, "the page shows what jetpool status --json says")

	// Retry a dead job from the page: confirm, then the worker processes it.
	natstest.Eventually(t, 10*time.Second, func() bool {
		return eval(`String(document.querySelectorAll('#dead tr[data-job="web-2"] button[data-action]').length)`) == "1"
	}, "the dead letters are listed")
	seq := eval(`document.querySelector('#dead tr[data-job="web-2"] button[data-action]').dataset.action`)
	run(chromedp.Click(chromedp.CSS(`#dead tr[data-job="web-2"] button[data-action]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`button[data-confirm=%q]`, seq))),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`button[data-confirm=%q]`, seq))))
	natstest.Eventually(t, 30*time.Second, func() bool {
		r, err := p.Reconcile(ctx, "web")
		return err == nil && r.Dead == 2 && r.Pending == 0 && r.Completed == 1
	}, "the retried job is processed")
	natstest.Eventually(t, 10*time.Second, func() bool { return cell("q", "dead") == "2" }, "the page shows 2 dead without a reload")

	// Jobs enqueued now appear without a reload.
	_, err = p.EnqueueBatch(ctx, "idle", []producer.Item{{ID: "later-1"}, {ID: "later-2"}}, producer.WithBatch("later"))
	require.NoError(t, err)
	natstest.Eventually(t, 10*time.Second, func() bool { return cell("idle", "pending") == "2" }, "a new queue appears")
	assert.Equal(t, "yes", eval(`window.loadedOnce || "reloaded"`), "the page was not reloaded")

	// Finding a job, and a batch's stages.
	run(chromedp.SendKeys(chromedp.CSS(`#search-id`), "later-1"), chromedp.Click(chromedp.CSS(`#search button`)),
		chromedp.WaitVisible(chromedp.CSS(`#job[data-state="pending"]`)),
		chromedp.Click(chromedp.CSS(`#batches tr[data-batch="web"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#batch-stages tbody tr`)))

	if file := os.Getenv("JETPOOL_DASHBOARD_SCREENSHOT"); file != "" {
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(file, png, 0o644))
	}
	run(chromedp.Navigate("about:blank"))
	mu.Lock()
	defer mu.Unlock()
	assert.NotEmpty(t, requests)
	assert.Empty(t, outside, "requests that left loopback")
}
