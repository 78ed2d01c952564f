package redact_test

import (
	"testing"

	"github.com/jetpool/jetpool/internal/redact"
	"github.com/stretchr/testify/assert"
)

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://u:s3cret@a:4222,nats://u:s3cret@b:4222": "nats://REDACTED@a:4222,nats://REDACTED@b:4222",
		"nats://s3cret@a:4222":                          "nats://REDACTED@a:4222",
		"u:s3cret@a:4222":                               "REDACTED@a:4222",
		"nats://u:s3cret@a:4222, bad url":               "nats://REDACTED@a:4222, bad url",
		"nats://a:4222/x@y":                             "nats://a:4222/x@y",
		"tls://a:4222":                                  "tls://a:4222",
	} {
		assert.Equal(t, want, redact.URL(in))
	}
}
