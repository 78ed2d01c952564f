//go:build !unix

package handlers

import (
	"os"
	"os/exec"
	"syscall"
)

// ownGroup does nothing where there are no process groups.
func ownGroup(*exec.Cmd) {}

// signalGroup kills p where there are no process groups: only p ends.
func signalGroup(p *os.Process, _ syscall.Signal) error {
	return p.Kill()
}
