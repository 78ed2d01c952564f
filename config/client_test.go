package config_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool/config"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

// creds writes a credentials file for a user JWT that expires at exp (never
// when zero) and returns its path and the seed it holds.
func creds(t *testing.T, exp time.Time) (path, seed string) {
	t.Helper()
	acc, err := nkeys.CreateAccount()
	require.NoError(t, err)
	user, err := nkeys.CreateUser()
	require.NoError(t, err)
	upub, err := user.PublicKey()
	require.NoError(t, err)
	useed, err := user.Seed()
	require.NoError(t, err)
	uc := jwt.NewUserClaims(upub)
	uc.Name = "worker"
	if !exp.IsZero() {
		uc.Expires = exp.Unix()
	}
	token, err := uc.Encode(acc)
	require.NoError(t, err)
	file, err := jwt.FormatUserConfig(token, useed)
	require.NoError(t, err)
	return writeFile(t, "user.creds", string(file)), string(useed)
}

func TestClientSettingsFromFileEnvironmentAndFlags(t *testing.T) {
	p := writeFile(t, "jetpool.yaml", `
nats_user: file-user
nats_password: file-password
nats_ca: /file/ca.pem
nats_tls_first: true
nats_inbox_prefix: _INBOX_worker
`)
	cfg, err := config.LoadEnv(p, env(map[string]string{"NATS_PASSWORD": "env-password", "NATS_CA": "/env/ca.pem"}))
	require.NoError(t, err)
	assert.Equal(t, "file-user", cfg.User)
	assert.Equal(t, config.Secret("env-password"), cfg.Password, "the environment overrides the file")
	assert.Equal(t, "/env/ca.pem", cfg.CA)
	assert.True(t, cfg.TLSFirst)
	assert.Equal(t, "_INBOX_worker", cfg.InboxPrefix)

	cfg.Client.Overlay(config.Client{CA: "/flag/ca.pem"})
	assert.Equal(t, "/flag/ca.pem", cfg.CA, "flags override the environment")
	assert.Equal(t, config.Secret("env-password"), cfg.Password, "an empty flag overrides nothing")
}

func TestSecretNeverPrints(t *testing.T) {
	s := config.Secret("hunter2")
	c := config.Client{User: "u", Password: s, Token: s}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "client", c, "password", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", c, c, c, s, s), logged.String()} {
		assert.NotContains(t, out, "hunter2")
	}
	text, err := s.MarshalText()
	require.NoError(t, err)
	assert.NotContains(t, string(text), "hunter2")
}

func TestClientValidateNamesSourcesNotValues(t *testing.T) {
	tests := []struct {
		name, file string
		env        map[string]string
		flags      config.Client
		want       string
	}{
		{name: "two ways", file: "nats_token: s3cret-token\n", env: map[string]string{"NATS_CREDS": "/c.creds"},
			want: "nats_token and NATS_CREDS are both set"},
		{name: "flag and env", env: map[string]string{"NATS_NKEY": "/n.nk"}, flags: config.Client{User: "u", Password: "s3cret-pw"},
			want: "--user and NATS_NKEY are both set"},
		{name: "password alone", env: map[string]string{"NATS_PASSWORD": "s3cret-pw"}, want: "NATS_PASSWORD is set without a user"},
		{name: "user alone", flags: config.Client{User: "u"}, want: "--user is set without a password"},
		{name: "key alone", file: "nats_key: /k.pem\n", want: "nats_key is set without a client certificate"},
		{name: "cert alone", flags: config.Client{Cert: "/c.pem"}, want: "--tlscert is set without its private key"},
		{name: "url and token", env: map[string]string{"NATS_URL": "nats://a:s3cret-pw@h:4222", "NATS_TOKEN": "s3cret-token"},
			want: "the NATS URL carries credentials and NATS_TOKEN is set too"},
		{name: "inbox", flags: config.Client{InboxPrefix: "_INBOX.>"}, want: `--inbox-prefix "_INBOX.>" is not a subject prefix`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeFile(t, "jetpool.yaml", tt.file)
			}
			cfg, err := config.LoadEnv(path, env(tt.env))
			if err == nil {
				cfg.Client.Overlay(tt.flags)
				err = cfg.Client.Validate(cfg.NATSURL)
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "s3cret")
		})
	}
}

func TestNATSOptionsCheckFiles(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.creds")
	expired, seed := creds(t, time.Now().Add(-time.Hour))
	valid, _ := creds(t, time.Now().Add(time.Hour))
	notCreds := writeFile(t, "seed-only.creds", seed+"\n")
	badCA := writeFile(t, "ca.pem", "not a certificate")
	badKey := writeFile(t, "key.pem", "not a key")
	cert := writeFile(t, "cert.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	unreadable := writeFile(t, "unreadable.nk", seed)
	require.NoError(t, os.Chmod(unreadable, 0))
	tests := []struct {
		name   string
		client config.Client
		want   []string
	}{
		{"missing creds", config.Client{Creds: missing}, []string{"--creds: credentials file " + missing, "no such file"}},
		{"expired JWT", config.Client{Creds: expired}, []string{"--creds: credentials file " + expired, `"worker"`, "expired at"}},
		{"seed is no JWT", config.Client{Creds: notCreds}, []string{notCreds, "holds no user JWT"}},
		{"missing nkey", config.Client{NKey: missing}, []string{"--nkey: NKey seed file " + missing}},
		{"nkey without seed", config.Client{NKey: badKey}, []string{badKey, "holds no user seed"}},
		{"bad CA", config.Client{CA: badCA}, []string{"--tlsca: CA file " + badCA + " holds no PEM certificate"}},
		{"missing CA", config.Client{CA: missing}, []string{"--tlsca: CA file", missing}},
		{"bad key", config.Client{Cert: cert, Key: badKey}, []string{"--tlscert and --tlskey", cert, badKey}},
		{"missing key", config.Client{Cert: cert, Key: missing}, []string{"--tlskey: client key " + missing}},
	}
	if os.Geteuid() != 0 { // root reads any file
		tests = append(tests, struct {
			name   string
			client config.Client
			want   []string
		}{"unreadable nkey", config.Client{NKey: unreadable}, []string{"--nkey: NKey seed file " + unreadable, "permission denied"}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.LoadEnv("", env(nil))
			require.NoError(t, err)
			cfg.Client.Overlay(tt.client)
			_, err = cfg.NATSOptions()
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), seed)
			assert.NotContains(t, err.Error(), seed[:12], "not even part of the seed")
		})
	}

	cfg, err := config.LoadEnv("", env(map[string]string{"NATS_CREDS": valid}))
	require.NoError(t, err)
	opts, err := cfg.NATSOptions()
	require.NoError(t, err)
	assert.NotEmpty(t, opts)
}
