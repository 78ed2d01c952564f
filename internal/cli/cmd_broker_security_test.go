package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startBrokerCommand runs `jetpool broker` with args until the test ends
// and returns the client URL it prints.
func startBrokerCommand(t *testing.T, args ...string) (url string, stderr *natstest.Buffer) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	var stdout natstest.Buffer
	stderr = &natstest.Buffer{}
	done := make(chan int, 1)
	args = append([]string{"broker", "--store", t.TempDir(), "--listen", "127.0.0.1:-1"}, args...)
	go func() { done <- Main(ctx, args, strings.NewReader(""), &stdout, stderr) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("jetpool broker did not stop")
		}
	})
	require.Eventually(t, func() bool {
		select {
		case code := <-done:
			done <- code
			t.Fatalf("jetpool broker exited %d: %s", code, stderr.String())
		default:
		}
		return strings.Contains(stdout.String(), "\n")
	}, 30*time.Second, 20*time.Millisecond)
	return strings.TrimSpace(stdout.String()), stderr
}

func TestBrokerServerConfigWithUsersAndTLS(t *testing.T) {
	ca := newTestCA(t, "broker")
	cert, key := ca.issue(t, "server", false, "127.0.0.1")
	conf := filepath.Join(t.TempDir(), "server.conf")
	require.NoError(t, os.WriteFile(conf, []byte(`
authorization {
  users = [
    {user: admin, password: "admin-S3cret"}
  ]
}
tls { cert_file: "`+cert+`", key_file: "`+key+`" }
`), 0o600))

	url, log := startBrokerCommand(t, "--server-config", conf, "--user", "admin", "--password", "admin-S3cret")
	require.True(t, strings.HasPrefix(url, "tls://127.0.0.1:"), url)
	nc, err := nats.Connect(url, nats.RootCAs(ca.File), nats.UserInfo("admin", "admin-S3cret"))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.Stream(context.Background(), "JETPOOL_JOBS")
	require.NoError(t, err, "the broker provisioned as the admin")

	code, out := secRun(t, "--nats-url", url, "--tlsca", ca.File, "--user", "admin", "--password", "admin-S3cret", "provision", "q")
	require.Equal(t, ExitOK, code, out)
	assert.NotContains(t, log.String()+out, "S3cret")
}

func TestBrokerServerConfigWithoutAdminCredentialsSaysWhat(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "server.conf")
	require.NoError(t, os.WriteFile(conf, []byte(`authorization { users = [ {user: admin, password: "admin-S3cret"} ] }`), 0o600))
	code, out := secRun(t, "broker", "--store", t.TempDir(), "--listen", "127.0.0.1:-1", "--server-config", conf)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, out, "the broker's server config requires credentials")
	assert.Contains(t, out, "--no-provision")

	code, out = secRun(t, "broker", "--help")
	assert.Equal(t, ExitOK, code)
	assert.Contains(t, out, "--server-config")
	assert.Contains(t, out, "docs/security.md")
}
