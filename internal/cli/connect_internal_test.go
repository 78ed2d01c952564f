package cli

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
)

// A server still starting may refuse, reset or drop the connection, or
// close it while the client writes its CONNECT: a worker waits for all of
// these, and gives up at once on refused credentials.
func TestNotUpYetTellsAStartingServerFromARefusal(t *testing.T) {
	write := func(errno syscall.Errno) error {
		return fmt.Errorf("connect: %w", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", errno)})
	}
	for _, err := range []error{nats.ErrNoServers, write(syscall.EPIPE), write(syscall.ECONNRESET), write(syscall.ECONNREFUSED)} {
		assert.True(t, notUpYet(err), "%v", err)
	}
	for _, err := range []error{nats.ErrAuthorization, errors.New("tls: bad certificate")} {
		assert.False(t, notUpYet(err), "%v", err)
	}
}
