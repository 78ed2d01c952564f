// Package proctest runs the jetpool command as separate OS processes in
// tests: it builds the command once, on first use, starts it against a
// broker, and records what workers deliver to an HTTP endpoint.
//
// A test package that uses it calls RemoveBinary from its TestMain after
// the tests ran.
package proctest

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/require"
)

// command is the jetpool command, built by the first test that runs it. It
// is the one package-level variable here: a test binary builds the command
// at most once, however many tests start it.
var command struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Binary builds the jetpool command on its first call and returns its path;
// later calls return the same path. A failed build fails every test that
// asks for it.
func Binary(t testing.TB) string {
	t.Helper()
	command.once.Do(func() {
		command.dir, command.err = os.MkdirTemp("", "jetpool-bin-")
		if command.err != nil {
			return
		}
		command.path = filepath.Join(command.dir, "jetpool")
		out, err := exec.Command("go", "build", "-o", command.path, "github.com/jetpool/jetpool/cmd/jetpool").CombinedOutput()
		if err != nil {
			command.err = &buildError{err: err, out: string(out)}
		}
	})
	if command.err != nil {
		t.Fatalf("building the jetpool command: %v", command.err)
	}
	return command.path
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// RemoveBinary deletes the command Binary built, if it built one. TestMain
// calls it once the tests have run.
func RemoveBinary() {
	if command.dir != "" {
		os.RemoveAll(command.dir)
	}
}

// Proc is a running jetpool process.
type Proc struct {
	Cmd    *exec.Cmd
	Stdout natstest.Buffer
	Stderr natstest.Buffer
	done   chan struct{}
}

// Start runs jetpool with args against url, logging at warn unless args say
// otherwise; the process is killed at the test's end if still running, and
// its stderr logged if the test failed.
func Start(t *testing.T, url string, stdin io.Reader, args ...string) *Proc {
	t.Helper()
	p := &Proc{
		Cmd:  exec.Command(Binary(t), append([]string{"--nats-url", url, "--log-level", "warn"}, args...)...),
		done: make(chan struct{}),
	}
	p.Cmd.Stdin = stdin
	p.Cmd.Stdout = &p.Stdout
	p.Cmd.Stderr = &p.Stderr
	require.NoError(t, p.Cmd.Start())
	go func() { _ = p.Cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.Cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("jetpool %s stderr:\n%s", strings.Join(args, " "), p.Stderr.String())
		}
	})
	return p
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits up to timeout for the process to exit and returns its exit
// code; it fails the test if the process is still running then.
func (p *Proc) Wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%v did not exit within %s; stderr:\n%s", p.Cmd.Args, timeout, p.Stderr.String())
	}
	return p.Cmd.ProcessState.ExitCode()
}

// Run runs jetpool to completion, within a minute, and returns its stdout
// and exit code.
func Run(t *testing.T, url string, stdin string, args ...string) (string, int) {
	t.Helper()
	p := Start(t, url, strings.NewReader(stdin), args...)
	code := p.Wait(t, 60*time.Second)
	return p.Stdout.String(), code
}

// ModuleRoot is the directory of jetpool's go.mod, found upwards from the
// test's working directory: where the README, the Makefile and deploy/ are.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod above the working directory")
		}
		dir = parent
	}
}
