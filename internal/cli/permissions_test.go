package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// role is a user of the permission sets in deploy/security: its NKey seed
// file and the inbox prefix its set allows.
type role struct {
	seedFile, pub, inbox string
}

func newRole(t *testing.T, name, inbox string) role {
	t.Helper()
	kp, err := nkeys.CreateUser()
	require.NoError(t, err)
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	p := filepath.Join(t.TempDir(), name+".nk")
	require.NoError(t, os.WriteFile(p, seed, 0o600))
	return role{seedFile: p, pub: pub, inbox: inbox}
}

// flags are the global flags that connect as r.
func (r role) flags(url string) []string {
	f := []string{"--nats-url", url, "--nkey", r.seedFile}
	if r.inbox != "" {
		f = append(f, "--inbox-prefix", r.inbox)
	}
	return f
}

// permissionViolations collects a connection's permission violations.
type permissionViolations struct {
	mu   sync.Mutex
	errs []string
}

func (p *permissionViolations) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrPermissionViolation) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.errs = append(p.errs, err.Error())
	}
}

func (p *permissionViolations) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.errs, "\n")
}

// connect opens a library client as r, as an attacker holding r's key would.
func (r role) connect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream, *permissionViolations) {
	t.Helper()
	pv := &permissionViolations{}
	nkey, err := nats.NkeyOptionFromSeed(r.seedFile)
	require.NoError(t, err)
	opts := []nats.Option{nkey, nats.ErrorHandler(pv.handler)}
	if r.inbox != "" {
		opts = append(opts, nats.CustomInboxPrefix(r.inbox))
	}
	nc, err := nats.Connect(url, opts...)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return nc, js, pv
}

// startLeastPrivilegeBroker runs `jetpool broker` with a server config that
// includes deploy/security/permissions.conf and gives the three roles their
// sets; ackV2 turns on nats-server's v2 $JS.ACK reply subjects.
func startLeastPrivilegeBroker(t *testing.T, ackV2 bool) (url string, admin, producer, worker role) {
	t.Helper()
	admin = newRole(t, "admin", "")
	producer = newRole(t, "producer", "_INBOX_demo_producer")
	worker = newRole(t, "worker", "_INBOX_demo_worker")
	perms, err := os.ReadFile(filepath.Join("..", "..", "deploy", "security", "permissions.conf"))
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "permissions.conf"), perms, 0o600))
	conf := fmt.Sprintf(`
authorization {
  include "permissions.conf"
  users = [
    {nkey: %s, permissions: $JETPOOL_ADMIN}
    {nkey: %s, permissions: $JETPOOL_PRODUCER_DEMO}
    {nkey: %s, permissions: $JETPOOL_WORKER_DEMO}
  ]
}
feature_flags { js_ack_fc_v2: %v }
`, admin.pub, producer.pub, worker.pub, ackV2)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "server.conf"), []byte(conf), 0o600))
	url, _ = startBrokerCommand(t, "--server-config", filepath.Join(dir, "server.conf"), "--nkey", admin.seedFile)
	code, out := secRun(t, append(admin.flags(url), "provision", "demo")...)
	require.Equal(t, ExitOK, code, "the admin provisions: %s", out)
	return url, admin, producer, worker
}

// runStdin runs the command with stdin and returns its code and output.
func runStdin(t *testing.T, stdin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := Main(ctx, args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String() + stderr.String()
}

// The shipped permission sets let each role do its work, through the
// command: the producer enqueues and waits, the worker processes and
// dead-letters, under both formats of nats-server's ack reply subjects.
func TestPermissionSetsLetEachRoleWork(t *testing.T) {
	for _, ackV2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("js_ack_fc_v2=%v", ackV2), func(t *testing.T) {
			url, admin, producer, worker := startLeastPrivilegeBroker(t, ackV2)

			w := runInBackground(t, append(worker.flags(url), "work", "--queue", "demo", "--builtin", "noop")...)
			code, out := runStdin(t, "a\nb\nc\n", append(producer.flags(url), "enqueue", "demo", "-", "--batch", "ok")...)
			require.Equal(t, ExitOK, code, out)
			code, out = runStdin(t, "", append(producer.flags(url), "batch", "wait", "ok", "--timeout", "30s", "--json")...)
			require.Equal(t, ExitOK, code, "every job completed: %s\nworker: %s", out, w.stderr.String())
			w.stop()
			require.Equal(t, ExitOK, w.wait(t, 30*time.Second), w.stderr.String())
			assert.NotContains(t, w.stderr.String(), "Permissions Violation", "the worker stopped within its permissions")

			w = runInBackground(t, append(worker.flags(url), "work", "--queue", "demo", "--builtin", "fail=1", "--max-attempts", "1")...)
			code, out = runStdin(t, "d\n", append(producer.flags(url), "enqueue", "demo", "-", "--batch", "dead")...)
			require.Equal(t, ExitOK, code, out)
			code, out = runStdin(t, "", append(producer.flags(url), "batch", "wait", "dead", "--timeout", "30s")...)
			require.Equal(t, ExitDead, code, "the job was dead-lettered: %s\nworker: %s", out, w.stderr.String())
			w.stop()
			require.Equal(t, ExitOK, w.wait(t, 30*time.Second), w.stderr.String())
			assert.NotContains(t, w.stderr.String(), "Permissions Violation")

			// The periodic manager: a leader lease, a batch per cycle.
			w = runInBackground(t, append(worker.flags(url), "work", "--queue", "demo", "--builtin", "noop")...)
			items := filepath.Join(t.TempDir(), "items.txt")
			require.NoError(t, os.WriteFile(items, []byte("x\ny\n"), 0o600))
			code, out = runStdin(t, "", append(producer.flags(url), "produce", "--name", "m", "--queue", "demo", "--every", "200ms", "--source-file", items, "--cycles", "1")...)
			require.Equal(t, ExitOK, code, out)
			assert.NotContains(t, out, "Permissions Violation")

			// The admin inspects and repairs.
			code, out = runStdin(t, "", append(admin.flags(url), "dlq", "ls", "demo")...)
			require.Equal(t, ExitOK, code, out)
			assert.Contains(t, out, "dead-1")
			code, out = runStdin(t, "", append(admin.flags(url), "dlq", "purge", "demo", "--force")...)
			require.Equal(t, ExitOK, code, out)
			code, out = runStdin(t, "", append(admin.flags(url), "status")...)
			require.Equal(t, ExitOK, code, out)
			assert.NotContains(t, out, "Permissions Violation")
		})
	}
}

// What each role must not do fails with a permissions violation.
func TestPermissionSetsRefuseWhatARoleMustNotDo(t *testing.T) {
	url, _, producer, worker := startLeastPrivilegeBroker(t, false)
	code, out := runStdin(t, "a\n", append(producer.flags(url), "enqueue", "demo", "-", "--batch", "b")...)
	require.Equal(t, ExitOK, code, out)

	quick := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		t.Cleanup(cancel)
		return ctx
	}
	denied := func(t *testing.T, pv *permissionViolations, what, subject string) {
		t.Helper()
		want := fmt.Sprintf("Permissions Violation for %s %q", what, subject)
		if !assert.Eventually(t, func() bool { return strings.Contains(pv.String(), want) }, 5*time.Second, 10*time.Millisecond) {
			t.Logf("violations: %s", pv.String())
		}
	}

	t.Run("producer", func(t *testing.T) {
		nc, js, pv := producer.connect(t, url)
		_, err := js.Consumer(quick(), "JETPOOL_JOBS", "demo")
		assert.Error(t, err)
		denied(t, pv, "Publish to", "$JS.API.CONSUMER.INFO.JETPOOL_JOBS.demo")

		require.NoError(t, nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT.JETPOOL_JOBS.demo", nc.NewRespInbox(), []byte(`{"batch":1}`)))
		denied(t, pv, "Publish to", "$JS.API.CONSUMER.MSG.NEXT.JETPOOL_JOBS.demo")

		_, err = js.CreateOrUpdateConsumer(quick(), "JETPOOL_JOBS", jetstream.ConsumerConfig{Name: "steal", FilterSubject: "jetpool.jobs.demo.>"})
		assert.Error(t, err)
		denied(t, pv, "Publish to", "$JS.API.CONSUMER.CREATE.JETPOOL_JOBS.steal.jetpool.jobs.demo.>")

		_, err = nc.Request("$JS.API.DIRECT.GET.JETPOOL_JOBS", []byte(`{"seq":1}`), time.Second)
		assert.Error(t, err, "no reading job payloads")
		denied(t, pv, "Publish to", "$JS.API.DIRECT.GET.JETPOOL_JOBS")

		_, err = nc.SubscribeSync("_INBOX_demo_worker.>")
		require.NoError(t, err) // refused asynchronously
		denied(t, pv, "Subscription to", "_INBOX_demo_worker.>")

		s, err := js.Stream(quick(), "JETPOOL_JOBS")
		require.NoError(t, err, "stream info is allowed: the join reads it")
		assert.Error(t, s.Purge(quick()))
		denied(t, pv, "Publish to", "$JS.API.STREAM.PURGE.JETPOOL_JOBS")
		assert.Error(t, js.DeleteStream(quick(), "JETPOOL_DEAD"))
		denied(t, pv, "Publish to", "$JS.API.STREAM.DELETE.JETPOOL_DEAD")
	})

	t.Run("worker", func(t *testing.T) {
		nc, js, pv := worker.connect(t, url)
		_, err := js.CreateStream(quick(), jetstream.StreamConfig{Name: "X", Subjects: []string{"x.>"}})
		assert.Error(t, err)
		denied(t, pv, "Publish to", "$JS.API.STREAM.CREATE.X")

		_, err = js.CreateOrUpdateConsumer(quick(), "JETPOOL_JOBS", jetstream.ConsumerConfig{Durable: "other", FilterSubject: "jetpool.jobs.other.>"})
		assert.Error(t, err)
		denied(t, pv, "Publish to", "$JS.API.CONSUMER.CREATE.JETPOOL_JOBS.other.jetpool.jobs.other.>")

		_, err = nc.Request("$JS.API.STREAM.PURGE.JETPOOL_JOBS", nil, time.Second)
		assert.Error(t, err)
		denied(t, pv, "Publish to", "$JS.API.STREAM.PURGE.JETPOOL_JOBS")
		assert.Error(t, js.DeleteStream(quick(), "JETPOOL_JOBS"))
		denied(t, pv, "Publish to", "$JS.API.STREAM.DELETE.JETPOOL_JOBS")
		assert.Error(t, js.DeleteConsumer(quick(), "JETPOOL_JOBS", "demo"))
		denied(t, pv, "Publish to", "$JS.API.CONSUMER.DELETE.JETPOOL_JOBS.demo")

		require.NoError(t, nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT.JETPOOL_JOBS.other", nc.NewRespInbox(), []byte(`{"batch":1}`)))
		denied(t, pv, "Publish to", "$JS.API.CONSUMER.MSG.NEXT.JETPOOL_JOBS.other")

		require.NoError(t, nc.Publish("jetpool.jobs.other.b", []byte("x")))
		denied(t, pv, "Publish to", "jetpool.jobs.other.b")
		require.NoError(t, nc.Publish("jetpool.jobs.demo.b", []byte("x")))
		denied(t, pv, "Publish to", "jetpool.jobs.demo.b")
		require.NoError(t, nc.Publish("$KV.jetpool_batches.b", []byte("{}")))
		denied(t, pv, "Publish to", "$KV.jetpool_batches.b")
	})
}

// A worker with its permission set records the jobs it returns unstarted
// at stop, so that they are not charged an attempt: with --max-attempts 1,
// the next worker still runs every one of them.
func TestPermissionSetsLetAWorkerReturnJobsUncharged(t *testing.T) {
	url, admin, producer, worker := startLeastPrivilegeBroker(t, false)
	code, out := runStdin(t, strings.Repeat("job\n", 12), append(producer.flags(url), "enqueue", "demo", "-", "--batch", "ret")...)
	require.Equal(t, ExitOK, code, out)

	// Eight slots, three-second jobs: it runs eight jobs and holds the
	// other four (half its concurrency) until it stops.
	w := runInBackground(t, append(worker.flags(url), "work", "--queue", "demo", "--concurrency", "8", "--builtin", "sleep=3s", "--max-attempts", "1")...)
	natstest.Eventually(t, 10*time.Second, func() bool {
		code, out := runStdin(t, "", append(admin.flags(url), "status", "--json")...)
		var st Status
		if code != ExitOK || json.Unmarshal([]byte(out), &st) != nil {
			return false
		}
		for _, q := range st.Queues {
			if q.Queue == "demo" {
				return q.InFlight == 12
			}
		}
		return false
	}, "the worker holds every job")
	w.stop()
	require.Equal(t, ExitOK, w.wait(t, 30*time.Second), w.stderr.String())
	assert.NotContains(t, w.stderr.String(), "Permissions Violation")
	assert.NotContains(t, w.stderr.String(), "not recorded", "the returns were recorded")

	w = runInBackground(t, append(worker.flags(url), "work", "--queue", "demo", "--builtin", "noop", "--max-attempts", "1")...)
	code, out = runStdin(t, "", append(producer.flags(url), "batch", "wait", "ret", "--timeout", "30s")...)
	require.Equal(t, ExitOK, code, "no returned job was dead-lettered unrun: %s\nworker: %s", out, w.stderr.String())
	w.stop()
	require.Equal(t, ExitOK, w.wait(t, 30*time.Second), w.stderr.String())
	assert.NotContains(t, w.stderr.String(), "Permissions Violation")
}
