package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startServer runs a JetStream nats-server on a random port, configured
// further by configure, until the test ends.
func startServer(t *testing.T, configure func(*server.Options)) *server.Server {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true}
	configure(opts)
	ns, err := server.NewServer(opts)
	require.NoError(t, err)
	ns.SetLoggerV2(testLogger{t}, false, false, false)
	go ns.Start()
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	require.True(t, ns.ReadyForConnections(10*time.Second), "nats-server did not start")
	return ns
}

// jetpool runs the command in process and returns its exit code and output.
func secRun(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := Main(ctx, args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String() + stderr.String()
}

// testLogger sends nats-server's log to the test's.
type testLogger struct{ t *testing.T }

func (l testLogger) Noticef(f string, v ...any) { l.t.Logf("[INF] "+f, v...) }
func (l testLogger) Warnf(f string, v ...any)   { l.t.Logf("[WRN] "+f, v...) }
func (l testLogger) Fatalf(f string, v ...any)  { l.t.Logf("[FTL] "+f, v...) }
func (l testLogger) Errorf(f string, v ...any)  { l.t.Logf("[ERR] "+f, v...) }
func (l testLogger) Debugf(f string, v ...any)  {}
func (l testLogger) Tracef(f string, v ...any)  {}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "jetpool.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func TestConnectWithUserAndPasswordFromEveryChannel(t *testing.T) {
	url := startServer(t, func(o *server.Options) {
		o.Users = []*server.User{{Username: "app", Password: "pw-S3cret"}}
	}).ClientURL()

	code, out := secRun(t, "--nats-url", url, "--user", "app", "--password", "pw-S3cret", "provision")
	require.Equal(t, ExitOK, code, out)

	code, out = secRun(t, "--nats-url", url, "--config", writeConfig(t, "nats_user: app\nnats_password: pw-S3cret\n"), "provision")
	require.Equal(t, ExitOK, code, out)

	code, out = secRun(t, "--nats-url", url, "--user", "app", "--password", "wrong-S3cret", "provision")
	assert.Equal(t, ExitUnavailable, code)
	assert.Contains(t, out, "refused the credentials")
	assert.NotContains(t, out, "S3cret")

	code, out = secRun(t, "--nats-url", url, "provision")
	assert.Equal(t, ExitUnavailable, code, "no credentials: %s", out)

	t.Setenv("NATS_USER", "app")
	t.Setenv("NATS_PASSWORD", "pw-S3cret")
	code, out = secRun(t, "--nats-url", url, "provision")
	require.Equal(t, ExitOK, code, out)
}

func TestConnectWithToken(t *testing.T) {
	url := startServer(t, func(o *server.Options) { o.Authorization = "tok-S3cret" }).ClientURL()
	code, out := secRun(t, "--nats-url", url, "--token", "tok-S3cret", "provision")
	require.Equal(t, ExitOK, code, out)
	t.Setenv("NATS_TOKEN", "tok-S3cret")
	code, out = secRun(t, "--nats-url", url, "provision")
	require.Equal(t, ExitOK, code, out)
}

func TestConnectWithNKeySeedFile(t *testing.T) {
	user, err := nkeys.CreateUser()
	require.NoError(t, err)
	pub, _ := user.PublicKey()
	seed, _ := user.Seed()
	seedFile := filepath.Join(t.TempDir(), "user.nk")
	require.NoError(t, os.WriteFile(seedFile, seed, 0o600))
	url := startServer(t, func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: pub}} }).ClientURL()

	code, out := secRun(t, "--nats-url", url, "--nkey", seedFile, "provision")
	require.Equal(t, ExitOK, code, out)
	code, out = secRun(t, "--nats-url", url, "--config", writeConfig(t, "nats_nkey: "+seedFile+"\n"), "provision")
	require.Equal(t, ExitOK, code, out)

	missing := filepath.Join(t.TempDir(), "missing.nk")
	code, out = secRun(t, "--nats-url", url, "--nkey", missing, "provision")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, out, "--nkey: NKey seed file "+missing)
}

// operator is an operator-mode set-up: an operator, one account with
// JetStream, and users issued by the account as credentials files.
type operator struct {
	claims  *jwt.OperatorClaims
	sysPub  string
	sysJWT  string
	account nkeys.KeyPair
	accPub  string
	accJWT  string
}

func newOperator(t *testing.T) *operator {
	t.Helper()
	op, err := nkeys.CreateOperator()
	require.NoError(t, err)
	opPub, _ := op.PublicKey()
	oc := jwt.NewOperatorClaims(opPub)
	oc.Name = "test"
	opJWT, err := oc.Encode(op)
	require.NoError(t, err)
	oc, err = jwt.DecodeOperatorClaims(opJWT)
	require.NoError(t, err)
	acc, err := nkeys.CreateAccount()
	require.NoError(t, err)
	accPub, _ := acc.PublicKey()
	ac := jwt.NewAccountClaims(accPub)
	ac.Name = "jobs"
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	accJWT, err := ac.Encode(op)
	require.NoError(t, err)
	sys, err := nkeys.CreateAccount()
	require.NoError(t, err)
	sysPub, _ := sys.PublicKey()
	sc := jwt.NewAccountClaims(sysPub)
	sc.Name = "SYS"
	sysJWT, err := sc.Encode(op)
	require.NoError(t, err)
	return &operator{claims: oc, sysPub: sysPub, sysJWT: sysJWT, account: acc, accPub: accPub, accJWT: accJWT}
}

func (o *operator) configure(t *testing.T) func(*server.Options) {
	return func(opts *server.Options) {
		r := &server.MemAccResolver{}
		require.NoError(t, r.Store(o.accPub, o.accJWT))
		require.NoError(t, r.Store(o.sysPub, o.sysJWT))
		opts.SystemAccount = o.sysPub
		opts.TrustedOperators = []*jwt.OperatorClaims{o.claims}
		opts.AccountResolver = r
	}
}

// creds writes a credentials file of a new user expiring at exp (never when zero).
func (o *operator) creds(t *testing.T, name string, exp time.Time) (path, seed string) {
	t.Helper()
	u, err := nkeys.CreateUser()
	require.NoError(t, err)
	upub, _ := u.PublicKey()
	useed, _ := u.Seed()
	uc := jwt.NewUserClaims(upub)
	uc.Name = name
	if !exp.IsZero() {
		uc.Expires = exp.Unix()
	}
	token, err := uc.Encode(o.account)
	require.NoError(t, err)
	file, err := jwt.FormatUserConfig(token, useed)
	require.NoError(t, err)
	path = filepath.Join(t.TempDir(), name+".creds")
	require.NoError(t, os.WriteFile(path, file, 0o600))
	return path, string(useed)
}

func TestConnectWithCredentialsFile(t *testing.T) {
	op := newOperator(t)
	url := startServer(t, op.configure(t)).ClientURL()
	good, seed := op.creds(t, "worker", time.Now().Add(time.Hour))
	code, out := secRun(t, "--nats-url", url, "--creds", good, "provision")
	require.Equal(t, ExitOK, code, out)

	expired, seed2 := op.creds(t, "old", time.Now().Add(-time.Minute))
	t.Setenv("NATS_CREDS", expired)
	code, out = secRun(t, "--nats-url", url, "provision")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, out, "NATS_CREDS: credentials file "+expired+`: the user JWT of "old"`)
	assert.Contains(t, out, "expired at")
	for _, s := range []string{seed, seed2} {
		assert.NotContains(t, out, s[:10])
	}
}

func TestConnectWithTLSAndCustomCA(t *testing.T) {
	ca := newTestCA(t, "jetpool-test")
	url := startServer(t, func(o *server.Options) {
		o.TLSConfig = ca.serverTLS(t, nil, "127.0.0.1")
		o.TLS = true
	}).ClientURL()
	require.True(t, strings.HasPrefix(url, "tls://"), url)

	code, out := secRun(t, "--nats-url", url, "--tlsca", ca.File, "provision")
	require.Equal(t, ExitOK, code, out)

	// The system's authorities do not know the test CA, nor does another.
	code, out = secRun(t, "--nats-url", url, "provision")
	assert.Equal(t, ExitUnavailable, code)
	assert.Contains(t, out, "TLS: the certificate of 127.0.0.1:")
	assert.Contains(t, out, "--tlsca")

	other := newTestCA(t, "other")
	t.Setenv("NATS_CA", other.File)
	code, out = secRun(t, "--nats-url", url, "provision")
	assert.Equal(t, ExitUnavailable, code)
	assert.Contains(t, out, "TLS: the certificate of 127.0.0.1:")
	assert.Contains(t, out, "unknown authority")

	// A host name the certificate does not name.
	code, out = secRun(t, "--nats-url", strings.Replace(url, "127.0.0.1", "localhost", 1), "--tlsca", ca.File, "provision")
	assert.Equal(t, ExitUnavailable, code)
	assert.Contains(t, out, "does not name localhost")
}

func TestConnectWithMutualTLS(t *testing.T) {
	serverCA := newTestCA(t, "servers")
	clientCA := newTestCA(t, "clients")
	url := startServer(t, func(o *server.Options) {
		o.TLSConfig = serverCA.serverTLS(t, clientCA, "127.0.0.1")
		o.TLS, o.TLSVerify = true, true
	}).ClientURL()
	cert, key := clientCA.issue(t, "worker", true)

	code, out := secRun(t, "--nats-url", url, "--tlsca", serverCA.File, "--tlscert", cert, "--tlskey", key, "provision")
	require.Equal(t, ExitOK, code, out)

	code, out = secRun(t, "--nats-url", url, "--config",
		writeConfig(t, "nats_ca: "+serverCA.File+"\nnats_cert: "+cert+"\nnats_key: "+key+"\n"), "provision")
	require.Equal(t, ExitOK, code, out)

	code, out = secRun(t, "--nats-url", url, "--tlsca", serverCA.File, "provision")
	assert.Equal(t, ExitUnavailable, code, "no client certificate: %s", out)

	keyPEM, err := os.ReadFile(key)
	require.NoError(t, err)
	code, out = secRun(t, "--nats-url", url, "--tlsca", serverCA.File, "--tlscert", cert, "--tlskey", serverCA.File, "provision")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, out, "--tlscert and --tlskey: client certificate "+cert)
	assert.NotContains(t, out, string(keyPEM[30:60]))
}
