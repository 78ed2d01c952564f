package e2e_test

// TestCompose runs the docker compose stack as an operator would: make up,
// a batch enqueued from the host while the node leading the work stream is
// killed and workers are scaled 1 -> 4, another node cut off the network for
// 10 s while the batch is processed, jobs counted by ID on the host, status
// from the host with a node stopped, make down leaving nothing behind. The
// stack is secured (NKey users with least-privilege permissions, mutual TLS
// with a private CA, the secrets made by make into deploy/secrets): the host
// enqueues and waits as the producer and asks for status as the admin, and
// the test checks that clients without a certificate or a user are refused,
// that each service mounts only its own role's secrets, and that no secret
// is in the image.
//
// It needs a Docker engine, make and docker compose (or docker-compose 1.29),
// and takes one to two minutes once Go's build cache is warm, so it runs only
// when asked for:
//
//	JETPOOL_COMPOSE=1 go test -count=1 -run TestCompose -v -timeout 20m ./internal/e2e/
//
// (JETPOOL_E2E=docker works too.) docs/compose.md says why CI opts in.

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/proctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	composeJobs = 20000
	// composeJobDelay is how long the host endpoint holds each job: 64 slots
	// (4 workers of 16) then take about 45 s for the batch, long enough for
	// both faults to hit it mid-processing.
	composeJobDelay = 150 * time.Millisecond
)

// composeStack is one compose project started by the test.
type composeStack struct {
	t       *testing.T
	root    string // the module's directory: the Makefile's, deploy/'s
	project string
	env     []string // ports, project and worker handler for make
	natsURL string   // the three nodes' published client ports
	http    map[string]string
}

func TestCompose(t *testing.T) {
	if os.Getenv("JETPOOL_COMPOSE") != "1" && os.Getenv("JETPOOL_E2E") != "docker" {
		t.Skip("starts the docker compose stack; run it with JETPOOL_COMPOSE=1 go test -count=1 -run TestCompose -v -timeout 20m ./internal/e2e/ " +
			"(needs a Docker engine, make and docker compose or docker-compose; docs/compose.md)")
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Skipf("JETPOOL_COMPOSE is set but no Docker engine answers here (docker info: %v: %s)", err, bytes.TrimSpace(out))
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("JETPOOL_COMPOSE is set but make is missing")
	}

	s := newComposeStack(t)
	t.Cleanup(func() { s.make(2*time.Minute, "down") })
	start := time.Now()
	s.make(10*time.Minute, "up") // builds first: minutes on a cold build cache
	t.Logf("make up: %s (build, images, start, healthy)", since(start))
	// Health checks and depends_on conditions, not restarts, order the start.
	for _, c := range strings.Fields(s.docker("ps", "-aq", "--filter", "label=com.docker.compose.project="+s.project)) {
		assert.Equal(t, "0", s.docker("inspect", "-f", "{{.RestartCount}}", c), "container %s restarted during make up", c)
	}
	s.checkSecured()

	// The workers POST every job to this endpoint, listening on the
	// project network's gateway: the host as the containers see it.
	gw := s.docker("network", "inspect", s.project+"_default", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}")
	sink := newComposeSink(t, gw, composeJobDelay)
	s.env = append(s.env, "JETPOOL_WORKER_HANDLER=--http="+sink.url)
	s.make(time.Minute, "scale", "WORKERS=1") // recreated with the HTTP handler
	s.make(time.Minute, "wait")

	batch := fmt.Sprintf("e2e-%d", time.Now().Unix())
	var in strings.Builder
	ids := make([]string, composeJobs)
	for i := range composeJobs {
		fmt.Fprintf(&in, "payload %d\n", i)
		ids[i] = fmt.Sprintf("%s-%d", batch, i+1)
	}

	// Enqueue from the host with the binary make built, through all three
	// nodes' published ports.
	enqStart := time.Now()
	enq := exec.Command(filepath.Join(s.root, "deploy", "jetpool"), append(append([]string{"--nats-url", s.natsURL}, s.identity("producer")...), "enqueue", "demo", "-", "--batch", batch)...)
	enq.Stdin = strings.NewReader(in.String())
	var enqOut, enqErr bytes.Buffer
	enq.Stdout, enq.Stderr = &enqOut, &enqErr
	require.NoError(t, enq.Start())
	enqDone := make(chan error, 1)
	go func() { enqDone <- enq.Wait() }()

	// Fault 1: a tenth into the enqueue, kill the node leading JETPOOL_JOBS.
	var leader string
	require.Eventually(t, func() bool {
		var msgs uint64
		leader, msgs = s.jobsStream("")
		return leader != "" && msgs >= composeJobs/10
	}, time.Minute, 10*time.Millisecond, "the enqueue stored nothing")
	killed := time.Now()
	s.docker("kill", s.container(leader))
	select {
	case err := <-enqDone:
		enqDone <- err
		t.Logf("warning: the enqueue finished before %s was killed", leader)
	default:
		t.Logf("killed %s, the JETPOOL_JOBS leader, %s into the enqueue", leader, since(enqStart))
	}
	newLeader := ""
	require.Eventually(t, func() bool {
		newLeader, _ = s.jobsStream(leader)
		return newLeader != ""
	}, time.Minute, 50*time.Millisecond)
	t.Logf("recovered from the kill: %s leads JETPOOL_JOBS %s after it", newLeader, since(killed))

	// Scale 1 -> 4 mid-batch.
	scaleStart := time.Now()
	s.make(time.Minute, "scale", "WORKERS=4")
	t.Logf("scaled workers 1 -> 4 in %s", since(scaleStart))

	select {
	case err := <-enqDone:
		require.NoError(t, err, "enqueue: %s", enqErr.String())
	case <-time.After(3 * time.Minute):
		t.Fatalf("enqueue still running after 3m: %s", enqErr.String())
	}
	assert.Equal(t, batch, strings.TrimSpace(enqOut.String()))
	t.Logf("enqueued %d jobs from the host in %s across the kill: %s", composeJobs, since(enqStart), strings.TrimSpace(enqErr.String()))

	restarted := time.Now()
	s.docker("start", s.container(leader))
	s.awaitHealthy(leader)
	t.Logf("%s restarted and healthy (streams current) in %s", leader, since(restarted))

	// Fault 2: cut another node off the network for 10 s while processing.
	other := newLeader
	before := sink.count(batch)
	network := s.project + "_default"
	cut := time.Now()
	s.docker("network", "disconnect", network, s.container(other))
	time.Sleep(10 * time.Second)
	during := sink.count(batch) - before
	s.docker("network", "connect", "--alias", other, network, s.container(other))
	rejoined := time.Now()
	s.awaitHealthy(other)
	healthy := since(rejoined)
	s.awaitReplicasCurrent()
	t.Logf("%s off the network for %s: %d jobs processed meanwhile, %d left; after reconnecting, healthy in %s, JETPOOL_JOBS replicas all current in %s",
		other, rejoined.Sub(cut).Round(100*time.Millisecond), during, composeJobs-sink.count(batch), healthy, since(rejoined))
	assert.Less(t, sink.count(batch), composeJobs, "the batch was done before the network fault: it hit no processing")

	waitStart := time.Now()
	out, code := s.jetpool(5*time.Minute, "producer", "batch", "wait", batch, "--json", "--timeout", "4m")
	require.Equal(t, 0, code, "batch wait: %s", out)
	var r proctest.Report
	require.NoError(t, json.Unmarshal([]byte(out), &r), "batch wait: %s", out)
	assert.Equal(t, proctest.Report{Batch: batch, Expected: composeJobs, Completed: composeJobs}, proctest.Report{Batch: r.Batch, Expected: r.Expected, Completed: r.Completed, Dead: r.Dead, Pending: r.Pending})
	t.Logf("batch wait exited 0 after %s more: %d expected, %d completed, %d dead, %d pending; batch took %s from its first enqueue",
		since(waitStart), r.Expected, r.Completed, r.Dead, r.Pending, since(enqStart))

	lost, dupes := sink.check(batch, ids)
	t.Logf("counted by job ID on the host: %d jobs, %d lost, %d duplicate deliveries", composeJobs, lost, dupes)
	assert.Zero(t, lost, "jobs lost")

	// With a node stopped, status from the host still answers through
	// another node.
	stopped := "n1"
	s.docker("stop", s.container(stopped))
	out, code = s.jetpool(time.Minute, "admin", "status")
	require.Equal(t, 0, code, "status with %s stopped: %s", stopped, out)
	assert.Contains(t, out, "CLUSTER")
	assert.NotContains(t, out, "connected to "+stopped)
	t.Logf("status with %s stopped:\n%s", stopped, out)
	// make status reads the meta leader from the nodes' monitoring ports,
	// the stopped node's included: a live one answers.
	out = s.make(time.Minute, "status")
	assert.Regexp(t, `META LEADER n[23]\s+3 servers`, out, "make status names the meta leader")
	assert.Contains(t, out, stopped+" offline", "and the stopped node")
	t.Logf("make status with %s stopped:\n%s", stopped, out)

	downStart := time.Now()
	s.make(2*time.Minute, "down")
	t.Logf("make down: %s", since(downStart))
	s.assertNothingLeft()
}

func newComposeStack(t *testing.T) *composeStack {
	s := &composeStack{t: t, root: proctest.ModuleRoot(t), project: fmt.Sprintf("jetpool-e2e-%d", os.Getpid()), http: map[string]string{}}
	// Free loopback ports, so the test collides neither with a stack a
	// developer runs with the default ports nor with another test.
	var urls []string
	for i, node := range []string{"n1", "n2", "n3"} {
		client, monitor := composePort(t), composePort(t)
		s.env = append(s.env,
			fmt.Sprintf("JETPOOL_N%d_PORT=%d", i+1, client),
			fmt.Sprintf("JETPOOL_N%d_HTTP=%d", i+1, monitor))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", client))
		s.http[node] = fmt.Sprintf("http://127.0.0.1:%d", monitor)
	}
	s.natsURL = strings.Join(urls, ",")
	return s
}

func composePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

// make runs a target of the Makefile for this project.
func (s *composeStack) make(timeout time.Duration, target string, vars ...string) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := append([]string{"--no-print-directory", target, "PROJECT=" + s.project}, vars...)
	cmd := exec.CommandContext(ctx, "make", args...)
	cmd.Dir = s.root
	cmd.Env = append(os.Environ(), s.env...)
	out, err := cmd.CombinedOutput()
	require.NoError(s.t, err, "make %s:\n%s", target, out)
	return string(out)
}

func (s *composeStack) docker(args ...string) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	require.NoError(s.t, err, "docker %s: %s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

// container is the ID of a service's container, found by compose's labels,
// which both compose implementations set.
func (s *composeStack) container(service string) string {
	s.t.Helper()
	id := s.docker("ps", "-aq", "--filter", "label=com.docker.compose.project="+s.project,
		"--filter", "label=com.docker.compose.service="+service)
	require.NotEmpty(s.t, id, "no container for %s", service)
	return strings.Fields(id)[0]
}

// secret is the path of a file make generates in deploy/secrets: the
// stack's NKeys and certificates.
func (s *composeStack) secret(name string) string {
	return filepath.Join(s.root, "deploy", "secrets", name)
}

// identity is the flags of a host client connecting as role (admin,
// producer, worker) of deploy/security/permissions.conf: its NKey seed, its
// client certificate, the CA, and for a producer or worker the inbox prefix
// its permissions allow. "" is no identity at all.
func (s *composeStack) identity(role string) []string {
	if role == "" {
		return nil
	}
	f := s.secret
	args := []string{"--nkey", f(role + ".nk"), "--tlsca", f("ca.pem"), "--tlscert", f(role + "-cert.pem"), "--tlskey", f(role + "-key.pem")}
	if role != "admin" {
		args = append(args, "--inbox-prefix", "_INBOX_demo_"+role)
	}
	return args
}

// jetpool runs the binary make built against the three published ports as
// role (see identity) and returns its stdout (with its stderr when it fails)
// and exit code.
func (s *composeStack) jetpool(timeout time.Duration, role string, args ...string) (string, int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.root, "deploy", "jetpool"), append(append([]string{"--nats-url", s.natsURL}, s.identity(role)...), args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
		s.t.Fatalf("jetpool %v: %v", args, err)
	}
	code := cmd.ProcessState.ExitCode()
	if code != 0 {
		return stdout.String() + stderr.String(), code
	}
	return stdout.String(), code
}

// checkSecured checks what the stack's security rests on: the nodes refuse
// a client without a certificate or without a user, every service mounts
// only its own role's secrets under /run/secrets, and the image holds none
// of them.
func (s *composeStack) checkSecured() {
	t := s.t
	t.Helper()
	start := time.Now()
	out, code := s.jetpool(time.Minute, "", "--tlsca", s.secret("ca.pem"), "status")
	assert.Equal(t, 69, code, "no client certificate: %s", out)
	assert.Contains(t, out, "certificate required")
	noUser := []string{"--tlsca", s.secret("ca.pem"),
		"--tlscert", s.secret("admin-cert.pem"), "--tlskey", s.secret("admin-key.pem")}
	out, code = s.jetpool(time.Minute, "", append(noUser, "status")...)
	assert.Equal(t, 69, code, "a certificate but no user: %s", out)
	out, code = s.jetpool(time.Minute, "admin", "status")
	require.Equal(t, 0, code, "status as the admin: %s", out)

	mounts := map[string][]string{
		"n1":        {"ca.pem", "server-cert.pem", "server-key.pem"},
		"provision": {"admin-cert.pem", "admin-key.pem", "admin.nk", "ca.pem"},
		"worker":    {"ca.pem", "worker-cert.pem", "worker-key.pem", "worker.nk"},
		"producer":  {"ca.pem", "producer-cert.pem", "producer-key.pem", "producer.nk"},
	}
	for service, want := range mounts {
		var got []string
		for _, m := range strings.Fields(s.docker("inspect", "-f", "{{range .Mounts}}{{.Destination}} {{end}}", s.container(service))) {
			if name, ok := strings.CutPrefix(m, "/run/secrets/"); ok {
				got = append(got, name)
			}
		}
		slices.Sort(got)
		assert.Equal(t, want, got, "%s's secrets under /run/secrets", service)
	}

	// Every seed and private key, searched for in every file of every
	// layer of the image.
	var secrets [][]byte
	for _, name := range []string{"admin.nk", "producer.nk", "worker.nk", "admin-key.pem", "producer-key.pem", "worker-key.pem", "server-key.pem"} {
		data, err := os.ReadFile(s.secret(name))
		require.NoError(t, err)
		secrets = append(secrets, bytes.TrimSpace(data))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	save := exec.CommandContext(ctx, "docker", "save", s.project+"-jetpool:local")
	image, err := save.Output()
	require.NoError(t, err, "docker save")
	// docker save writes the layers as uncompressed tars (layer.tar in
	// Docker 20.10, blobs/sha256/... in the OCI layout of later ones), so
	// a secret in any file of any layer is in the bytes of an entry.
	files := 0
	outer := tar.NewReader(bytes.NewReader(image))
	for {
		h, err := outer.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		data, err := io.ReadAll(outer)
		require.NoError(t, err)
		for i, secret := range secrets {
			assert.False(t, bytes.Contains(data, secret), "the image's %s holds secret %d", h.Name, i)
		}
		layer := tar.NewReader(bytes.NewReader(data))
		for {
			f, err := layer.Next()
			if err != nil {
				break // the end of a layer, or not a layer
			}
			files++
			assert.NotContains(t, f.Name, "secrets", "a secrets path in the image")
		}
	}
	assert.NotZero(t, files, "no file found in the image")
	t.Logf("secured: no certificate and no user refused, secrets mounted per role, none in the image's %d files (%s)", files, since(start))
}

// jobsStream asks the nodes' monitoring ports, except skip's, which server
// leads JETPOOL_JOBS ("" while none does) and how many messages it holds.
func (s *composeStack) jobsStream(skip string) (leader string, msgs uint64) {
	for node := range s.http {
		if node == skip {
			continue
		}
		if st, ok := s.jobsDetail(node); ok && st.Cluster.Leader != "" && st.Cluster.Leader != skip {
			return st.Cluster.Leader, st.State.Messages
		}
	}
	return "", 0
}

// streamDetail is the part of /jsz?streams=true the test reads.
type streamDetail struct {
	Name  string `json:"name"`
	State struct {
		Messages uint64 `json:"messages"`
	} `json:"state"`
	Cluster struct {
		Leader   string `json:"leader"`
		Replicas []struct {
			Name    string `json:"name"`
			Current bool   `json:"current"`
		} `json:"replicas"`
	} `json:"cluster"`
}

// jobsDetail is JETPOOL_JOBS as node's monitoring port shows it.
func (s *composeStack) jobsDetail(node string) (streamDetail, bool) {
	var jsz struct {
		Accounts []struct {
			Streams []streamDetail `json:"stream_detail"`
		} `json:"account_details"`
	}
	if getJSON(s.http[node]+"/jsz?streams=true", &jsz) != nil {
		return streamDetail{}, false
	}
	for _, a := range jsz.Accounts {
		for _, st := range a.Streams {
			if st.Name == "JETPOOL_JOBS" {
				return st, true
			}
		}
	}
	return streamDetail{}, false
}

// awaitReplicasCurrent waits until the JETPOOL_JOBS leader reports both
// other nodes current.
func (s *composeStack) awaitReplicasCurrent() {
	s.t.Helper()
	require.Eventually(s.t, func() bool {
		leader, _ := s.jobsStream("")
		st, ok := s.jobsDetail(leader)
		if !ok || st.Cluster.Leader != leader || len(st.Cluster.Replicas) != 2 {
			return false
		}
		for _, r := range st.Cluster.Replicas {
			if !r.Current {
				return false
			}
		}
		return true
	}, 2*time.Minute, 100*time.Millisecond, "JETPOOL_JOBS replicas not current")
}

// awaitHealthy polls a node's /healthz on its published monitoring port:
// JetStream on and every stream and consumer of the node current.
func (s *composeStack) awaitHealthy(node string) {
	s.t.Helper()
	require.Eventually(s.t, func() bool {
		var h struct {
			Status string `json:"status"`
		}
		return getJSON(s.http[node]+"/healthz", &h) == nil && h.Status == "ok"
	}, 2*time.Minute, 100*time.Millisecond, "%s not healthy", node)
}

func getJSON(url string, v any) error {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// assertNothingLeft checks that make down removed every container,
// network, volume and image of the project.
func (s *composeStack) assertNothingLeft() {
	s.t.Helper()
	label := "label=com.docker.compose.project=" + s.project
	assert.Empty(s.t, s.docker("ps", "-aq", "--filter", label), "containers left")
	assert.Empty(s.t, s.docker("network", "ls", "-q", "--filter", "name="+s.project), "networks left")
	assert.Empty(s.t, s.docker("volume", "ls", "-q", "--filter", "name="+s.project), "volumes left")
	assert.Empty(s.t, s.docker("images", "-q", s.project+"-jetpool"), "images left")
	assert.Empty(s.t, s.docker("images", "-q", "--filter", "label=io.jetpool.compose.project="+s.project), "untagged images left")
}

// composeSink is the HTTP endpoint the workers POST jobs to; it counts
// deliveries by job ID, per batch.
type composeSink struct {
	url   string
	delay time.Duration
	mu    sync.Mutex
	seen  map[string]map[string]int // batch -> job ID -> deliveries
}

func newComposeSink(t *testing.T, host string, delay time.Duration) *composeSink {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	require.NoError(t, err, "listening on the compose network's gateway")
	k := &composeSink{delay: delay, seen: map[string]map[string]int{}}
	srv := httptest.NewUnstartedServer(k)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	k.url = "http://" + l.Addr().String() + "/"
	return k
}

func (k *composeSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	batch, id := r.Header.Get("Jetpool-Batch"), r.Header.Get("Jetpool-Job-Id")
	if !strings.HasPrefix(batch, "e2e-") {
		// The stack's own producer fills the same queue; its jobs are
		// answered at once and not counted.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	time.Sleep(k.delay)
	k.mu.Lock()
	if k.seen[batch] == nil {
		k.seen[batch] = map[string]int{}
	}
	k.seen[batch][id]++
	k.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (k *composeSink) count(batch string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.seen[batch])
}

// check counts the IDs never delivered and the deliveries beyond the first.
func (k *composeSink) check(batch string, ids []string) (lost, dupes int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, id := range ids {
		switch n := k.seen[batch][id]; {
		case n == 0:
			lost++
		case n > 1:
			dupes += n - 1
		}
	}
	return lost, dupes
}
