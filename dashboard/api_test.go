package dashboard_test

import (
	"context"
	"fmt"
	"github.com/jetpool/jetpool/batch"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/dashboard"
	"github.com/jetpool/jetpool/dlq"
	"github.com/jetpool/jetpool/internal/locate"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/jetpool/jetpool/internal/status"
	"github.com/jetpool/jetpool/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The API serves what jetpool status collects, batches in pages newest
// first, a batch's stages, and where a job is.
func TestAPIStatusBatchesAndJobs(t *testing.T) {
	t.Parallel()
	s := newSite(t, dashboard.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := producer.New(s.env.JS, producer.Options{Logger: s.env.Log})
	require.NoError(t, err)
	for i := range 3 {
		_, err := p.EnqueueBatch(ctx, "q", []producer.Item{{ID: fmt.Sprintf("b%d-1", i)}, {ID: fmt.Sprintf("b%d-2", i)}}, producer.WithBatch(fmt.Sprintf("b%d", i)))
		require.NoError(t, err)
	}

	var got status.Status
	require.Equal(t, http.StatusOK, s.get(t, "api/status", &got))
	want, err := status.Collect(ctx, s.env.Conn, s.env.JS, jetpool.DefaultNames(), nil)
	require.NoError(t, err)
	assert.Equal(t, want.Queues, got.Queues)
	require.Len(t, got.Queues, 1)
	assert.Equal(t, uint64(6), got.Queues[0].Pending)

	var page status.BatchPage
	require.Equal(t, http.StatusOK, s.get(t, "api/batches?limit=2", &page))
	require.Len(t, page.Reports, 2)
	assert.Equal(t, "b2", page.Reports[0].Batch, "newest first")
	require.NotZero(t, page.Next)
	var older status.BatchPage
	require.Equal(t, http.StatusOK, s.get(t, fmt.Sprintf("api/batches?limit=2&before=%d", page.Next), &older))
	require.Len(t, older.Reports, 1)
	assert.Equal(t, "b0", older.Reports[0].Batch)
	assert.Zero(t, older.Next, "the last page")

	var rep batch.Report
	require.Equal(t, http.StatusOK, s.get(t, "api/batch?id=b1", &rep))
	assert.Equal(t, map[string]int{"q": 2}, rep.PendingByQueue)
	assert.Equal(t, http.StatusNotFound, s.get(t, "api/batch?id=nope", nil))
	assert.Equal(t, http.StatusBadRequest, s.get(t, "api/batch?id=a.b", nil))
	assert.Equal(t, http.StatusBadRequest, s.get(t, "api/batches?limit=100000", nil))

	var loc locate.Location
	require.Equal(t, http.StatusOK, s.get(t, "api/job?id=b1-2", &loc))
	assert.Equal(t, locate.Pending, loc.State)
	assert.Equal(t, "b1", loc.Batch)
	require.Equal(t, http.StatusOK, s.get(t, "api/job?id=nobody-1", &loc))
	assert.Equal(t, locate.Gone, loc.State)
}

// Dead letters come in pages; retry and purge need POST with the page's
// CSRF token from the same origin: anything else is refused with 403 and
// changes nothing. A retried job is processed.
func TestDeadLettersPagesRetryPurgeAndCSRF(t *testing.T) {
	t.Parallel()
	s := newSite(t, dashboard.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var healed atomic.Bool
	poisonPool(t, s.env, &healed)
	p, err := producer.New(s.env.JS, producer.Options{Logger: s.env.Log})
	require.NoError(t, err)
	b, err := p.EnqueueBatch(ctx, "q", []producer.Item{{ID: "d1", Payload: []byte("one")}, {ID: "d2"}, {ID: "d3"}}, producer.WithBatch("dead"))
	require.NoError(t, err)
	_, err = b.Wait(ctx)
	require.NoError(t, err)

	var page dlq.Page
	require.Equal(t, http.StatusOK, s.get(t, "api/dead?queue=q&limit=2", &page))
	assert.Equal(t, 3, page.Total)
	require.Len(t, page.Letters, 2)
	require.NotZero(t, page.Next)
	var rest dlq.Page
	require.Equal(t, http.StatusOK, s.get(t, fmt.Sprintf("api/dead?queue=q&limit=2&from=%d", page.Next), &rest))
	require.Len(t, rest.Letters, 1)
	assert.Zero(t, rest.Next)
	assert.Contains(t, page.Letters[0].Error, "poisoned payload")

	target := page.Letters[0]
	body := fmt.Sprintf(`{"queue":"q","seq":%d}`, target.Seq)
	token := s.csrf(t)
	// The same token with its first digit changed (a fixed prefix would
	// equal the token one time in 256).
	first := "0"
	if token[0] == '0' {
		first = "1"
	}
	wrong := first + token[1:]
	require.NotEqual(t, token, wrong)
	dead := func() int {
		var pg dlq.Page
		require.Equal(t, http.StatusOK, s.get(t, "api/dead?queue=q", &pg))
		return pg.Total
	}
	for name, header := range map[string]map[string]string{
		"no CSRF token":    {},
		"wrong CSRF token": {"X-Jetpool-Csrf": wrong},
		"cross origin":     {"X-Jetpool-Csrf": token, "Origin": "http://evil.example"},
		"cross site":       {"X-Jetpool-Csrf": token, "Sec-Fetch-Site": "cross-site"},
		// DNS rebinding: a page of evil.example whose name now resolves
		// here read the CSRF token from the page and posts same-origin.
		"rebound host": {"X-Jetpool-Csrf": token, "Host": "evil.example", "Origin": "http://evil.example", "Sec-Fetch-Site": "same-origin"},
	} {
		code, out := s.post(t, "api/dead/retry", body, header)
		assert.Equal(t, http.StatusForbidden, code, "%s: %s", name, out)
		code, out = s.post(t, "api/dead/purge", `{"queue":"q"}`, header)
		assert.Equal(t, http.StatusForbidden, code, "%s: %s", name, out)
	}
	assert.Equal(t, http.StatusMethodNotAllowed, s.get(t, "api/dead/retry?queue=q&seq=1", nil), "GET changes nothing")
	assert.Equal(t, 3, dead(), "refused requests changed nothing")

	healed.Store(true)
	code, out := s.post(t, "api/dead/retry", body, map[string]string{"X-Jetpool-Csrf": token, "Origin": "http://" + s.url[len("http://"):len(s.url)-len("/dash/")], "Sec-Fetch-Site": "same-origin"})
	require.Equal(t, http.StatusOK, code, out)
	assert.Equal(t, 2, dead())
	natstest.Eventually(t, 10*time.Second, func() bool {
		r, err := p.Reconcile(ctx, "dead")
		return err == nil && r.Pending == 0 && r.Completed == 1
	}, "the retried job is processed")

	code, out = s.post(t, "api/dead/purge", `{"queue":"q"}`, map[string]string{"X-Jetpool-Csrf": token})
	require.Equal(t, http.StatusOK, code, out)
	assert.JSONEq(t, `{"purged":2}`, out)
	assert.Equal(t, 0, dead())
}
