package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func write(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "jetpool.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func TestLoadFileAndEnvironment(t *testing.T) {
	t.Setenv("NATS_URL", "nats://env:4222")
	p := write(t, `
nats_url: nats://file:4222
prefix: acme
pools:
  resize:
    concurrency: 8
    timeout: 30s
    interval: 10s
    max_attempts: 3
    backoff: {initial: 2s, max: 1m}
`)
	cfg, err := config.Load(p)
	require.NoError(t, err)
	assert.Equal(t, "nats://env:4222", cfg.NATSURL, "NATS_URL overrides the file")
	assert.Equal(t, "acme", cfg.Prefix)
	assert.Equal(t, config.Pool{Concurrency: 8, Timeout: 30 * time.Second, Interval: 10 * time.Second, MaxAttempts: 3,
		Backoff: config.Backoff{Initial: 2 * time.Second, Max: time.Minute}}, cfg.Pool("resize"))
}

func TestDefaultsWithoutFile(t *testing.T) {
	t.Setenv("NATS_URL", "")
	cfg, err := config.Load("")
	require.NoError(t, err)
	assert.Equal(t, config.DefaultNATSURL, cfg.NATSURL)
	assert.Equal(t, "jetpool", cfg.Prefix)
}

func TestBadConfigNamesKeyAndValue(t *testing.T) {
	for body, want := range map[string]string{
		"pools:\n  q:\n    concurrency: -3\n":                 "pools.q.concurrency: -3",
		"pools:\n  q:\n    timeout: -1s\n":                    "pools.q.timeout: -1s",
		"pools:\n  q:\n    threads: 4\n":                      "pools.q.threads: unknown key",
		"pools:\n  a.b:\n    concurrency: 1\n":                `queue "a.b"`,
		"pools:\n  q:\n    timeout: soon\n":                   "soon",
		"pools:\n  q:\n    backoff: {initial: 5s, max: 1s}\n": "pools.q.backoff.max: 1s",
		"replicas: 9\n": "replicas: 9",
		"prefix: a.b\n": `prefix "a.b"`,
		"pools: [\n":    "yaml",
	} {
		_, err := config.Load(write(t, body))
		require.Error(t, err, body)
		assert.Contains(t, err.Error(), want, body)
	}
	_, err := config.Load(filepath.Join(t.TempDir(), "missing.yaml"))
	assert.ErrorContains(t, err, "missing.yaml")
}

// A mistyped key or a value of the wrong type is reported by its dotted key
// and its line, never by the Go type it decodes into.
func TestConfigErrorsNameKeysNotTypes(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"pools:\n  q:\n    concurency: 4\n", "line 3: pools.q.concurency: unknown key; did you mean concurrency?"},
		{"pools:\n  q:\n    maxAttempts: 4\n", "pools.q.maxAttempts: unknown key; did you mean max_attempts?"},
		{"pools:\n  q:\n    backoff: {initial: 1s, maximum: 1m}\n", "pools.q.backoff.maximum: unknown key; did you mean max?"},
		{"natsurl: nats://x:4222\n", "line 1: natsurl: unknown key; did you mean nats_url?"},
		{"nats_cred: /x\n", "nats_cred: unknown key; did you mean nats_creds?"},
		{"pools:\n  q:\n    threads: 4\n", "pools.q.threads: unknown key; valid keys are backoff, concurrency, interval, max_attempts, timeout"},
		{"pool:\n  q: {}\n", "pool: unknown key; did you mean pools?"},
		{"prefix: x\npools:\n  q:\n    concurrency: 2\n    timeout: 30\n", "line 5: pools.q.timeout: 30 is not a duration; write 30s"},
		{"pools:\n  q:\n    interval: 1.5\n", "pools.q.interval: 1.5 is not a duration; write 1.5s"},
		{"pools:\n  q:\n    timeout: soon\n", "pools.q.timeout: soon is not a duration (write it like 30s, 1m30s or 500ms)"},
		{"pools:\n  q:\n    backoff: {initial: 2}\n", "pools.q.backoff.initial: 2 is not a duration; write 2s"},
		{"pools:\n  q:\n    concurrency: many\n", "pools.q.concurrency: many is not a whole number"},
		{"pools:\n  q:\n    concurrency: 2.5\n", "pools.q.concurrency: 2.5 is not a whole number"},
		{"replicas: three\n", "line 1: replicas: three is not a whole number"},
		{"nats_tls_first: maybe\n", "nats_tls_first: maybe is not true or false"},
		{"pools:\n  q: 4\n", "pools.q: 4 is not a mapping (keys backoff, concurrency, interval, max_attempts, timeout)"},
		{"pools: [a, b]\n", "pools: a list is not a mapping of queue names"},
		{"prefix: [a]\n", "prefix: a list is not a string"},
	} {
		_, err := config.Load(write(t, tc.body))
		require.Error(t, err, tc.body)
		assert.Contains(t, err.Error(), tc.want, tc.body)
		for _, goType := range []string{"config.", "time.Duration", "!!int", "unmarshal"} {
			assert.NotContains(t, err.Error(), goType, tc.body)
		}
	}
}

// The key checks accept every valid file: anchors, merge keys and nulls.
func TestConfigKeyChecksAcceptValidFiles(t *testing.T) {
	cfg, err := config.Load(write(t, `
defaults: &d
pools:
  a: &base
    concurrency: 2
    timeout: 1m
  b:
    <<: *base
    interval:
  c: {}
nats_tls_first: true
nats_password: s3cret
`))
	require.Error(t, err, "defaults is not a key")
	assert.Contains(t, err.Error(), "defaults: unknown key")
	cfg, err = config.Load(write(t, `
pools:
  a: &base
    concurrency: 2
    timeout: 1m
  b:
    <<: *base
    interval:
  c: {}
nats_tls_first: true
nats_user: u
nats_password: s3cret
`))
	require.NoError(t, err)
	assert.Equal(t, config.Pool{Concurrency: 2, Timeout: time.Minute}, cfg.Pool("b"))
	assert.True(t, cfg.TLSFirst)
}

// A secret's value never appears in an error about its key.
func TestConfigErrorsHideSecrets(t *testing.T) {
	_, err := config.Load(write(t, "nats_password: {hunter2: x}\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nats_password")
	assert.NotContains(t, err.Error(), "hunter2")
}

// Parse never panics, and whatever it refuses it refuses by key or as YAML.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"pools:\n  q:\n    timeout: 30\n", "pools:\n  q: &a {concurrency: 1}\n  r: {<<: *a}\n", "pools:\n  q: &a {<<: *a}\n",
		"pools: [\n", "nats_url: x\n", "pools:\n  q:\n    backoff: {initial: 1s, max: x}\n", "- a\n", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		_, err := config.Parse([]byte(body))
		if err != nil && strings.Contains(err.Error(), "not found in type") {
			t.Fatalf("error names a Go type: %v", err)
		}
	})
}
