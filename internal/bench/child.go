package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// child is a jetpool process the bench runs: a worker, an enqueue, a
// batch wait.
type child struct {
	cmd    *exec.Cmd
	stderr *tail
	exited chan struct{} // closed when the process has exited
	err    error         // how it exited, once exited is closed
}

// startJetpool starts `jetpool ARGS --prefix PREFIX` (Options.Worker)
// against the bench's server, stdin from stdin when not nil.
func (b *bench) startJetpool(ctx context.Context, t *provisioned, stdin io.Reader, args ...string) (*child, error) {
	cmd := b.o.Worker(ctx, append(args, "--prefix", t.names.Prefix(), "--log-level", "warn"))
	// The URL goes in the environment, not on a command line anyone can read.
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, "NATS_URL="+b.url)
	c := &child{cmd: cmd, stderr: &tail{max: 4 << 10}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = nil, c.stderr
	if stdin != nil {
		cmd.Stdin = stdin
	}
	if cmd.Cancel != nil { // exec.CommandContext: stop it gracefully when ctx ends
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = 15 * time.Second
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// wait waits for the process to exit and fails unless it exits 0.
func (c *child) wait(ctx context.Context) error {
	select {
	case <-c.exited:
		if c.err != nil {
			return fmt.Errorf("%v: %s", c.err, c.stderr)
		}
		return nil
	case <-ctx.Done():
		return errors.Join(ctx.Err(), c.stop())
	}
}

// stop ends the process with SIGTERM, then SIGKILL after 20s.
func (c *child) stop() error {
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-c.exited:
		return c.err
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("did not stop within 20s of SIGTERM: %v", c.err)
	}
}
