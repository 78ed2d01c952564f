package dashboard_test

import (
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"testing"

	"github.com/jetpool/jetpool/dashboard"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// With a token, every request needs it, as a bearer header or as the
// cookie that ?token= sets once; the token is never logged.
func TestTokenIsRequired(t *testing.T) {
	t.Parallel()
	const token = "s3cret-dashboard-token-0123456789"
	var logs natstest.Buffer
	s := newSite(t, dashboard.Options{Token: token, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})

	assert.Equal(t, http.StatusUnauthorized, s.get(t, "api/status", nil))
	assert.Equal(t, http.StatusUnauthorized, s.get(t, "", nil), "the page too")
	assert.Equal(t, http.StatusUnauthorized, s.get(t, "?token=wrong", nil))
	code, _ := s.post(t, "api/dead/purge", `{"queue":"q"}`, map[string]string{"Authorization": "Bearer wrong"})
	assert.Equal(t, http.StatusUnauthorized, code)

	req, err := http.NewRequest(http.MethodGet, s.url+"api/status", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.http.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a bearer token is accepted")

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	s.http.Jar = jar
	resp, err = s.http.Get(s.url + "?token=" + token)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, s.url, resp.Request.URL.String(), "redirected to the page without the token in its address")
	assert.Equal(t, http.StatusOK, s.get(t, "api/status", nil), "the cookie carries the token")
	assert.NotContains(t, logs.String(), token)
}

// Without a token, only loopback Host names are served: a page whose name
// resolves to this machine (DNS rebinding) reads nothing, unless the name is
// listed in Options.Hosts.
func TestHostMustBeLoopbackWithoutToken(t *testing.T) {
	t.Parallel()
	s := newSite(t, dashboard.Options{Hosts: []string{"dash.internal"}})
	get := func(host string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, s.url+"api/status", nil)
		require.NoError(t, err)
		req.Host = host
		resp, err := s.http.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusForbidden, get("evil.example"))
	assert.Equal(t, http.StatusForbidden, get("evil.example:8080"))
	assert.Equal(t, http.StatusOK, get("localhost:8080"))
	assert.Equal(t, http.StatusOK, get("127.0.0.1"))
	assert.Equal(t, http.StatusOK, get("[::1]:8080"))
	assert.Equal(t, http.StatusOK, get("dash.internal"))
}
