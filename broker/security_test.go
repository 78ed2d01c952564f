package broker_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetpool/jetpool/broker"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pki is a CA with the PEM files of a server and a client certificate it
// signed, made for one test.
type pki struct {
	dir                       string
	ca, serverCert, serverKey string
	clientCert, clientKey     string
	pool                      *x509.CertPool
	serverPair                tls.Certificate
	caCert                    *x509.Certificate
	caKey                     *ecdsa.PrivateKey
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir(), pool: x509.NewCertPool()}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	p.caCert, _ = x509.ParseCertificate(der)
	p.caKey = key
	p.pool.AddCert(p.caCert)
	p.ca = p.write(t, "ca.pem", "CERTIFICATE", der)
	// Routes use the server's certificate both ways.
	p.serverCert, p.serverKey = p.issue(t, "server", x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	p.clientCert, p.clientKey = p.issue(t, "client", x509.ExtKeyUsageClientAuth)
	p.serverPair, err = tls.LoadX509KeyPair(p.serverCert, p.serverKey)
	require.NoError(t, err)
	return p
}

func (p *pki) issue(t *testing.T, name string, usage ...x509.ExtKeyUsage) (cert, key string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usage,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &k.PublicKey, p.caKey)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(k)
	require.NoError(t, err)
	return p.write(t, name+".pem", "CERTIFICATE", der), p.write(t, name+"-key.pem", "EC PRIVATE KEY", kder)
}

func (p *pki) write(t *testing.T, name, kind string, der []byte) string {
	path := filepath.Join(p.dir, name)
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600))
	return path
}

func startBroker(t *testing.T, o broker.Options) *broker.Server {
	t.Helper()
	if o.StoreDir == "" {
		o.StoreDir = t.TempDir()
	}
	if o.Logger == nil {
		o.Logger = natstest.Logger(t, slog.LevelWarn)
	}
	srv, err := broker.Start(o)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		assert.NoError(t, srv.Shutdown(ctx))
	})
	return srv
}

func writeConf(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "server.conf")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

// asyncErrs collects a connection's asynchronous errors, such as
// permission violations.
func asyncErrs() (nats.Option, func() error) {
	var mu sync.Mutex
	var errs []error
	opt := nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	})
	return opt, func() error { mu.Lock(); defer mu.Unlock(); return errors.Join(errs...) }
}

func TestConfigFileGivesUsersAndPermissions(t *testing.T) {
	var log natstest.Buffer
	conf := writeConf(t, `
listen: 0.0.0.0:4999
jetstream { store_dir: /nonexistent/elsewhere }
authorization {
  users = [
    {user: admin, password: "admin-S3cret"}
    {user: limited, password: "limited-S3cret", permissions: {publish: "allowed.>", subscribe: "_INBOX.>"}}
  ]
}
`)
	srv := startBroker(t, broker.Options{ConfigFile: conf, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	url := srv.ClientURL()
	assert.True(t, strings.HasPrefix(url, "nats://127.0.0.1:"), "Listen wins over the file: %s", url)
	assert.Contains(t, log.String(), "the server config's listen address is replaced")
	assert.Contains(t, log.String(), "the server config's JetStream store_dir is replaced")
	assert.NotContains(t, log.String(), "S3cret")

	_, err := nats.Connect(url)
	assert.ErrorIs(t, err, nats.ErrAuthorization, "no anonymous clients")

	admin, err := nats.Connect(url, nats.UserInfo("admin", "admin-S3cret"))
	require.NoError(t, err)
	defer admin.Close()
	_, err = admin.Request("$JS.API.INFO", nil, 5*time.Second)
	require.NoError(t, err, "the admin reaches JetStream")

	errOpt, errs := asyncErrs()
	limited, err := nats.Connect(url, nats.UserInfo("limited", "limited-S3cret"), errOpt)
	require.NoError(t, err)
	defer limited.Close()
	require.NoError(t, limited.Publish("allowed.x", nil))
	require.NoError(t, limited.Publish("denied.x", nil))
	require.NoError(t, limited.Flush())
	require.Eventually(t, func() bool { return errs() != nil }, 5*time.Second, 10*time.Millisecond)
	assert.ErrorContains(t, errs(), `Permissions Violation for Publish to "denied.x"`)
	assert.NotContains(t, errs().Error(), "allowed.x")
}

func TestConfigFileGivesMutualTLS(t *testing.T) {
	p := newPKI(t)
	conf := writeConf(t, `
tls {
  cert_file: "`+p.serverCert+`"
  key_file: "`+p.serverKey+`"
  ca_file: "`+p.ca+`"
  verify: true
}
`)
	srv := startBroker(t, broker.Options{ConfigFile: conf})
	url := srv.ClientURL()
	require.True(t, strings.HasPrefix(url, "tls://"), url)

	nc, err := nats.Connect(url, nats.RootCAs(p.ca), nats.ClientCert(p.clientCert, p.clientKey))
	require.NoError(t, err)
	nc.Close()
	_, err = nats.Connect(url, nats.RootCAs(p.ca))
	assert.Error(t, err, "no client certificate")
	_, err = nats.Connect(url)
	assert.Error(t, err, "an unknown CA")
}

func TestOptionsGiveTLSAndUsers(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	srv := startBroker(t, broker.Options{
		TLS:   &tls.Config{Certificates: []tls.Certificate{p.serverPair}, MinVersion: tls.VersionTLS12},
		Users: []*server.User{{Username: "app", Password: "app-S3cret"}},
	})
	url := srv.ClientURL()
	require.True(t, strings.HasPrefix(url, "tls://"), url)
	nc, err := nats.Connect(url, nats.RootCAs(p.ca), nats.UserInfo("app", "app-S3cret"))
	require.NoError(t, err)
	nc.Close()
	_, err = nats.Connect(url, nats.RootCAs(p.ca))
	assert.ErrorIs(t, err, nats.ErrAuthorization)
}

func TestBadConfigFileNamesIt(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.conf")
	_, err := broker.Start(broker.Options{StoreDir: t.TempDir(), ConfigFile: missing})
	require.Error(t, err)
	assert.Contains(t, err.Error(), missing)

	bad := writeConf(t, "authorization { users = [ {user: a, password: \"pw-S3cret\", permissions: {publish: {allow: 7}}} ] }\n")
	_, err = broker.Start(broker.Options{StoreDir: t.TempDir(), ConfigFile: bad})
	require.Error(t, err)
	assert.Contains(t, err.Error(), bad)
	assert.NotContains(t, err.Error(), "S3cret")
}

// deploy/security/server.conf, with its /run/secrets files made for the
// test and the users' public keys in the environment, secures a broker:
// NKey users only, and mutual TLS.
func TestShippedServerConfig(t *testing.T) {
	p := newPKI(t)
	for name, src := range map[string]string{"server-cert.pem": p.serverCert, "server-key.pem": p.serverKey, "ca.pem": p.ca} {
		data, err := os.ReadFile(src)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(p.dir, name), data, 0o600))
	}
	dir := t.TempDir()
	for _, f := range []string{"server.conf", "permissions.conf"} {
		data, err := os.ReadFile(filepath.Join("..", "deploy", "security", f))
		require.NoError(t, err)
		data = bytes.ReplaceAll(data, []byte("/run/secrets/"), []byte(p.dir+"/"))
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), data, 0o600))
	}
	seeds := map[string]nats.Option{}
	for _, role := range []string{"ADMIN", "PRODUCER", "WORKER"} {
		kp, err := nkeys.CreateUser()
		require.NoError(t, err)
		pub, _ := kp.PublicKey()
		t.Setenv("JETPOOL_"+role+"_NKEY", pub)
		seeds[role] = nats.Nkey(pub, kp.Sign)
	}
	srv := startBroker(t, broker.Options{ConfigFile: filepath.Join(dir, "server.conf")})
	url := srv.ClientURL()
	require.True(t, strings.HasPrefix(url, "tls://"), url)

	tlsOpts := []nats.Option{nats.RootCAs(p.ca), nats.ClientCert(p.clientCert, p.clientKey)}
	admin, err := nats.Connect(url, append(tlsOpts, seeds["ADMIN"])...)
	require.NoError(t, err)
	defer admin.Close()
	_, err = admin.Request("$JS.API.INFO", nil, 5*time.Second)
	require.NoError(t, err)

	_, err = nats.Connect(url, tlsOpts...)
	assert.ErrorIs(t, err, nats.ErrAuthorization, "no user, no entry")

	// Two nodes route to each other over the file's mutual TLS.
	ports := []int{natstest.FreePort(t), natstest.FreePort(t)}
	routes := []string{fmt.Sprintf("nats://127.0.0.1:%d", ports[0]), fmt.Sprintf("nats://127.0.0.1:%d", ports[1])}
	var nodes []*broker.Server
	for i, port := range ports {
		nodes = append(nodes, startBroker(t, broker.Options{ConfigFile: filepath.Join(dir, "server.conf"), ServerName: fmt.Sprintf("n%d", i),
			ClusterName: "c", ClusterListen: fmt.Sprintf("127.0.0.1:%d", port), Routes: routes}))
	}
	require.Eventually(t, func() bool { return nodes[0].NATS().NumRoutes() > 0 && nodes[1].NATS().NumRoutes() > 0 }, 10*time.Second, 20*time.Millisecond,
		"the nodes route over TLS")
	// The route port speaks TLS at once and wants a node's certificate.
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		&tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.serverPair}, MinVersion: tls.VersionTLS12})
	require.NoError(t, err, "a TLS handshake on the route port")
	conn.Close()
	_, err = nats.Connect(url, nats.RootCAs(p.ca), seeds["WORKER"])
	assert.Error(t, err, "no client certificate, no entry")
}
