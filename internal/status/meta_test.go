package status

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// jsz serves a monitoring endpoint whose /jsz answers body.
func jsz(t *testing.T, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jsz" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// A cluster whose meta group lost its leader is not taken for a single
// server; a follower's view yields to the leader's; a single server has no
// meta group; an endpoint that does not answer is skipped.
func TestMetaStatusReadsTheLeadersView(t *testing.T) {
	ctx := context.Background()
	noLeader := jsz(t, `{"meta_cluster":{"name":"c","cluster_size":3,"replicas":[{"name":"n2","current":false},{"name":"n3","current":false}]}}`)
	m, err := metaStatus(ctx, []string{noLeader})
	require.NoError(t, err)
	assert.Empty(t, m.Leader)
	assert.Equal(t, 3, m.Size, "a leaderless cluster, not a single server")

	follower := jsz(t, `{"meta_cluster":{"leader":"n1","cluster_size":3,"replicas":[{"name":"n1","current":true},{"name":"n3","current":false}]}}`)
	leader := jsz(t, `{"meta_cluster":{"leader":"n1","cluster_size":3,"replicas":[{"name":"n2","current":true},{"name":"n3","current":true}]}}`)
	m, err = metaStatus(ctx, []string{"http://127.0.0.1:1", follower, leader})
	require.NoError(t, err)
	assert.Equal(t, "n1", m.Leader)
	assert.Equal(t, leader, m.From, "the leader's own view")
	require.Len(t, m.Replicas, 2)
	assert.True(t, m.Replicas[0].Current && m.Replicas[1].Current)

	m, err = metaStatus(ctx, []string{follower})
	require.NoError(t, err)
	assert.Equal(t, "n1", m.Leader)
	assert.Empty(t, m.Replicas, "a follower cannot tell whether peers are current")

	single := jsz(t, `{"server_id":"x"}`)
	m, err = metaStatus(ctx, []string{single})
	require.NoError(t, err)
	assert.Equal(t, 1, m.Size)
	assert.Empty(t, m.Leader)

	_, err = metaStatus(ctx, []string{"http://127.0.0.1:1"})
	assert.ErrorContains(t, err, "no monitoring endpoint answered")
}
