package batch_test

import (
	"testing"
	"time"

	"github.com/jetpool/jetpool/batch"
	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Zero means the default; a negative duration is refused, naming the field
// and the value.
func TestNegativeOptionsAreRefused(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	for _, tc := range []struct {
		opts batch.Options
		want string
	}{
		{batch.Options{Timeout: -time.Second}, "batch: Timeout -1s"},
		{batch.Options{RequestTimeout: -time.Millisecond}, "batch: RequestTimeout -1ms"},
	} {
		_, err := batch.New(env.JS, tc.opts)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
	}
	_, err := batch.New(env.JS, batch.Options{})
	require.NoError(t, err, "zero: the defaults")
}
