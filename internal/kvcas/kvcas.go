// Package kvcas tells a compare-and-set on a JetStream key-value bucket that
// lost a race with another writer from any other failure.
package kvcas

import (
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// Conflict reports whether err is a Create of a key that exists or an
// Update at a revision that is no longer the last. A replicated bucket
// answers a lost Update with a different code than a single-replica one;
// both count.
func Conflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
