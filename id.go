package jetpool

import (
	"crypto/rand"
	"encoding/hex"
)

// NewID returns a random job or batch ID: 24 hexadecimal digits, a single
// NATS subject token that [ValidateName] accepts.
func NewID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
