package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// MetaStatus is the JetStream meta group: the servers that agree on which
// streams and consumers exist and where they live. A client of an ordinary
// account cannot ask for it over NATS; status reads it from a server's
// monitoring endpoint.
type MetaStatus struct {
	Leader   string          `json:"leader"` // empty for a single server (Size 1), or a cluster without a leader (no quorum)
	Size     int             `json:"cluster_size"`
	Replicas []ReplicaStatus `json:"replicas,omitempty"` // the leader's view of its peers; none when the leader's endpoint did not answer
	From     string          `json:"from"`               // the monitoring endpoint that answered
}

// monitorTimeout bounds each monitoring request.
const monitorTimeout = 3 * time.Second

// metaStatus reads the meta group from the monitoring endpoints urls. Only
// the leader's view of its peers tells whether they are current, so it asks
// each endpoint in turn until the leader answers; when none of those that
// answer is the leader, it reports the leader's name without peers.
func metaStatus(ctx context.Context, urls []string) (*MetaStatus, error) {
	var errs []error
	var first *MetaStatus
	for _, u := range urls {
		m, err := readMeta(ctx, u)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if m.fromLeader() {
			return m, nil
		}
		if first == nil {
			first = m
		}
	}
	if first != nil {
		first.Replicas = nil // a follower's view of them says nothing
		return first, nil
	}
	return nil, fmt.Errorf("no monitoring endpoint answered: %w", errors.Join(errs...))
}

// fromLeader reports whether m is the meta leader's own view: a server
// lists its peers, not itself, so the leader's list lacks the leader.
func (m *MetaStatus) fromLeader() bool {
	if m.Leader == "" {
		return m.Size <= 1 // a single server; a cluster without a leader has no view to prefer
	}
	for _, r := range m.Replicas {
		if r.Name == m.Leader {
			return false
		}
	}
	return len(m.Replicas) > 0
}

// readMeta reads the meta group as the server at monitoring URL u sees it.
func readMeta(ctx context.Context, u string) (*MetaStatus, error) {
	base := strings.TrimSuffix(u, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	ctx, cancel := context.WithTimeout(ctx, monitorTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/jsz", nil)
	if err != nil {
		return nil, fmt.Errorf("--monitor %q: %w", u, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("--monitor %q: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("--monitor %q: GET /jsz: %s", u, resp.Status)
	}
	var jsz server.JSInfo
	if err := json.NewDecoder(resp.Body).Decode(&jsz); err != nil {
		return nil, fmt.Errorf("--monitor %q: GET /jsz: %w", u, err)
	}
	if jsz.Meta == nil { // a single server: no meta group to elect
		return &MetaStatus{Size: 1, From: base}, nil
	}
	m := &MetaStatus{Leader: jsz.Meta.Leader, Size: jsz.Meta.Size, From: base}
	for _, r := range jsz.Meta.Replicas {
		m.Replicas = append(m.Replicas, ReplicaStatus{Name: r.Name, Current: r.Current, Lag: r.Lag, Offline: r.Offline})
	}
	return m, nil
}
