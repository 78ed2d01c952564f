package natstest

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync"
	"testing"
)

// Buffer is a bytes.Buffer that goroutines may write and read at once: a
// process's output or a logger's, read by the test while it grows.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// BufferLogger returns a text logger at info and above that writes to buf,
// for a test that asserts what was logged.
func BufferLogger(buf *Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	return freePorts(t, 1)[0]
}

// FreeAddr returns a loopback HOST:PORT that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", FreePort(t))
}
