package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// `provision QUEUE --ack-wait 2s` on an existing consumer changes its
// AckWait, and --max-ack-pending its MaxAckPending.
func TestProvisionUpdatesQueueConsumer(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	url := env.Server.ClientURL()
	provision := func(args ...string) {
		t.Helper()
		var out, errs natstest.Buffer
		code := Main(context.Background(), append([]string{"--nats-url", url, "provision", "q"}, args...), strings.NewReader(""), &out, &errs)
		require.Equal(t, ExitOK, code, errs.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	provision()
	provision("--ack-wait", "2s", "--max-ack-pending", "300")
	c, err := env.JS.Consumer(ctx, "JETPOOL_JOBS", "q")
	require.NoError(t, err)
	assert.Equal(t, 2*time.Second, c.CachedInfo().Config.AckWait)
	assert.Equal(t, 300, c.CachedInfo().Config.MaxAckPending)
}
