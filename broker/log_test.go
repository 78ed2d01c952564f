package broker_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jetpool/jetpool/broker"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The embedded server's start-up banner and notices are debug lines: quiet
// at info level, shown at debug.
func TestServerNoticesAreDebug(t *testing.T) {
	for level, shown := range map[slog.Level]bool{slog.LevelInfo: false, slog.LevelDebug: true} {
		var logs natstest.Buffer
		srv, err := broker.Start(broker.Options{StoreDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: level}))})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		require.NoError(t, srv.Shutdown(ctx))
		cancel()
		if shown {
			assert.Contains(t, logs.String(), "Starting nats-server", level)
			assert.Contains(t, logs.String(), "level=DEBUG")
		} else {
			assert.NotContains(t, logs.String(), "nats-server", "%s: %s", level, logs.String())
		}
	}
}
