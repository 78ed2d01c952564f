package cli

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool/broker"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// `jetpool broker` on a store another broker holds exits at once, non-zero,
// naming the directory.
func TestBrokerOnLockedStoreExitsAtOnce(t *testing.T) {
	store := t.TempDir()
	srv, err := broker.Start(broker.Options{StoreDir: store, Logger: natstest.Logger(t, slog.LevelWarn)})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		assert.NoError(t, srv.Shutdown(ctx))
	})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	begin := time.Now()
	code := Main(ctx, []string{"broker", "--store", store, "--listen", "127.0.0.1:-1", "--log-level", "error"}, strings.NewReader(""), &stdout, &stderr)
	assert.NotEqual(t, ExitOK, code)
	assert.Less(t, time.Since(begin), 5*time.Second)
	assert.Contains(t, stderr.String(), "store directory "+store+" is in use by another broker")
	assert.Empty(t, stdout.String(), "no client URL: the broker never started")
}

// A signal during start-up stops `jetpool broker` promptly and leaves its
// store free.
func TestBrokerInterruptedDuringStartExits(t *testing.T) {
	store := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	begin := time.Now()
	code := Main(ctx, []string{"broker", "--store", store, "--listen", "127.0.0.1:-1", "--log-level", "error"}, strings.NewReader(""), &stdout, &stderr)
	assert.NotEqual(t, ExitOK, code)
	assert.Less(t, time.Since(begin), 5*time.Second)
	assert.Contains(t, stderr.String(), "interrupted")
	assert.Empty(t, stdout.String())

	srv, err := broker.Start(broker.Options{StoreDir: store, Logger: natstest.Logger(t, slog.LevelWarn)})
	require.NoError(t, err, "the store is free")
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	assert.NoError(t, srv.Shutdown(ctx))
}
