package config_test

import (
	"os"
	"path/filepath"
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
		"pools:\n  q:\n    threads: 4\n":                      "field threads not found",
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
