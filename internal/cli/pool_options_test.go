package cli

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/config"
	"github.com/jetpool/jetpool/consumer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A file's pool becomes the consumer.Options a worker pool takes, with the
// installation's names and the file's backoff.
func TestConsumerConfigFromPool(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jetpool.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
prefix: acme
pools:
  resize:
    concurrency: 8
    timeout: 30s
    max_attempts: 3
    backoff: {initial: 2s, max: 1m}
`), 0o600))
	cfg, err := config.Load(path)
	require.NoError(t, err)
	names, err := jetpool.NewNames("acme")
	require.NoError(t, err)
	assert.Equal(t, consumer.Options{Queue: "resize", Names: names, Concurrency: 8, Timeout: 30 * time.Second, MaxAttempts: 3,
		Backoff: consumer.Backoff{Initial: 2 * time.Second, Max: time.Minute}}, consumerConfig(cfg, "resize"))
	assert.Equal(t, consumer.Options{Queue: "other", Names: names}, consumerConfig(cfg, "other"), "no pool: the consumer's defaults")
}
