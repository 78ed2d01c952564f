package dashboard_test

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/jetpool/jetpool/topology"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/dashboard"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/require"
)

// site is a dashboard mounted under /dash/ on a test server, in front of a
// real broker with queue q provisioned.
type site struct {
	env  *natstest.Env
	url  string // the page: http://127.0.0.1:PORT/dash/
	http *http.Client
}

func newSite(t *testing.T, o dashboard.Options) *site {
	t.Helper()
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{}, "q"))
	if o.Logger == nil {
		o.Logger = env.Log
	}
	h, err := dashboard.New(env.Conn, env.JS, o)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/dash/", http.StripPrefix("/dash", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client := srv.Client()
	t.Cleanup(client.CloseIdleConnections)
	return &site{env: env, url: srv.URL + "/dash/", http: client}
}

// get fetches path (relative to the page) and decodes its JSON into v.
func (s *site) get(t *testing.T, path string, v any) int {
	t.Helper()
	resp, err := s.http.Get(s.url + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == http.StatusOK {
		require.NoError(t, json.Unmarshal(body, v), string(body))
	}
	return resp.StatusCode
}

// post sends body as JSON to path with extra headers.
func (s *site) post(t *testing.T, path, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := s.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

var csrfMeta = regexp.MustCompile(`name="jetpool-csrf" content="([0-9a-f]+)"`)

// csrf reads the page's CSRF token.
func (s *site) csrf(t *testing.T) string {
	t.Helper()
	resp, err := s.http.Get(s.url)
	require.NoError(t, err)
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	m := csrfMeta.FindSubmatch(page)
	require.NotNil(t, m, "the page carries a CSRF token")
	return string(m[1])
}

// poisonPool runs a pool on queue q whose jobs fail permanently until
// healed is set.
func poisonPool(t *testing.T, env *natstest.Env, healed *atomic.Bool) {
	t.Helper()
	ctx := context.Background()
	pool, err := consumer.New(env.JS, consumer.Options{Queue: "q", Logger: env.Log, Handler: jetpool.HandlerFunc(func(context.Context, *jetpool.Job) error {
		if !healed.Load() {
			return jetpool.Permanent(errors.New("poisoned payload"))
		}
		return nil
	})})
	require.NoError(t, err)
	require.NoError(t, pool.Start(ctx))
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		require.NoError(t, pool.Stop(sctx))
	})
}
