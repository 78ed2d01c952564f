package cli

import (
	"testing"

	"github.com/jetpool/jetpool/internal/redact"
	"github.com/stretchr/testify/assert"
)

func TestRedactHidesCredentials(t *testing.T) {
	assert.Equal(t, "nats://REDACTED@host:4222", redact.URL("nats://user:s3cret@host:4222"))
	assert.NotContains(t, redact.URL("nats://tok3n@host:4222"), "tok3n")
	assert.Equal(t, "nats://host:4222", redact.URL("nats://host:4222"))
}
