package cli

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"testing"
	"time"

	"github.com/jetpool/jetpool/topology"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dashboardURL matches the log line naming the dashboard's address.
var dashboardURL = regexp.MustCompile(`url=(http://\S+/)`)

// The dashboard refuses an address other than loopback without a token,
// and a short token; on loopback it serves the page and the API; bound
// elsewhere with a token, requests without it are refused and the token
// is never printed.
func TestDashboardListenRules(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, topology.Provision(ctx, env.JS, topology.Options{}, "q"))
	url := env.Server.ClientURL()

	res := runJetpool(t, ctx, "", "--nats-url", url, "dashboard", "--listen", "0.0.0.0:0")
	assert.Equal(t, ExitUsage, res.code)
	assert.Contains(t, res.stderr, `--listen "0.0.0.0:0" is not a loopback address`)
	res = runJetpool(t, ctx, "", "--nats-url", url, "dashboard", "--listen", "0.0.0.0:0", "--dashboard-token", "short")
	assert.Equal(t, ExitUsage, res.code)
	assert.Contains(t, res.stderr, "at least 16")
	assert.NotContains(t, res.stderr, "short")

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	client := &http.Client{Jar: jar}
	get := func(u string) int {
		resp, err := client.Get(u)
		require.NoError(t, err)
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	serve := func(args ...string) (string, *background) {
		b := runInBackground(t, append([]string{"--nats-url", url, "dashboard"}, args...)...)
		var base string
		natstest.Eventually(t, 10*time.Second, func() bool {
			m := dashboardURL.FindStringSubmatch(b.stderr.String())
			if m != nil {
				base = m[1]
			}
			return base != ""
		}, "the dashboard logs its address")
		return base, b
	}
	base, b := serve("--listen", "127.0.0.1:0")
	assert.Equal(t, http.StatusOK, get(base))
	assert.Equal(t, http.StatusOK, get(base+"api/status"))
	b.stop()
	assert.Equal(t, ExitOK, b.wait(t, 10*time.Second))

	const token = "dashboard-secret-0123456789"
	t.Setenv("JETPOOL_DASHBOARD_TOKEN", token)
	base, b = serve("--listen", "0.0.0.0:0")
	assert.Equal(t, http.StatusUnauthorized, get(base+"api/status"))
	assert.Equal(t, http.StatusOK, get(base+"?token="+token))
	assert.Equal(t, http.StatusOK, get(base+"api/status"), "the cookie set from ?token= carries it")
	b.stop()
	assert.Equal(t, ExitOK, b.wait(t, 10*time.Second))
	client.CloseIdleConnections()
	assert.NotContains(t, b.stderr.String(), token)
}
