package capped_test

import (
	"testing"

	"github.com/jetpool/jetpool/internal/capped"
	"github.com/stretchr/testify/assert"
)

func TestBufferKeepsTheFirstLimitBytes(t *testing.T) {
	b := capped.Buffer{Limit: 5}
	n, err := b.Write([]byte("abc"))
	assert.NoError(t, err)
	assert.Equal(t, 3, n)
	n, err = b.Write([]byte("defgh"))
	assert.NoError(t, err)
	assert.Equal(t, 5, n, "a write reports all its bytes even when some are dropped")
	assert.Equal(t, "abcde", b.String())
}

func TestTruncate(t *testing.T) {
	assert.Equal(t, "abc", capped.Truncate([]byte("abc"), 3))
	assert.Equal(t, "ab...", capped.Truncate([]byte("abc"), 2))
}
