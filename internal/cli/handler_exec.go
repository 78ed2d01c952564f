package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jetpool/jetpool"
)

// Exit codes of an --exec program.
const (
	execRetryLater = 75 // EX_TEMPFAIL: retry later
	execPermanent  = 65 // EX_DATAERR: dead-letter now
	maxOutput      = 8 << 20
	// maxLoggedOutput bounds the stdout a debug log line shows.
	maxLoggedOutput = 4096
)

// execStopGrace is how long a program's process group has, once its job
// times out or the worker stops at once, between SIGTERM and SIGKILL. It
// also bounds how long the worker waits for output pipes a program's
// leftover processes still hold after the program exits.
const execStopGrace = 500 * time.Millisecond

// execHandler runs a program once per job: payload on stdin, metadata in
// the environment. No shell is involved.
//
// The program runs in a process group of its own, and every process of that
// group ends with the job: a timeout or a stop sends SIGTERM to the group,
// then SIGKILL after execStopGrace, and whatever the program leaves behind
// when it exits is killed at once. A program that escapes the group (setsid,
// a daemon) is beyond reach.
type execHandler struct {
	program string
	args    []string
	env     []string      // NAME=value the program gets besides the job's own
	forward string        // queue that receives stdout on success; none when empty
	timeout time.Duration // the pool's job timeout, for messages; 0 if unknown
	log     *slog.Logger  // the program's stdout, when not forwarded, at debug level; none when nil
}

// execBaseEnv names the variables of the worker's environment that every
// program gets; --env adds others by name. Nothing else passes, so the
// worker's NATS credentials never reach job programs.
func execBaseEnv() []string { return []string{"PATH", "HOME"} }

// newExecHandler runs argv per job. The program's environment is PATH,
// HOME, the variables named in pass (taken from the worker's environment
// now, when set) and the job's JETPOOL_* variables.
func newExecHandler(argv []string, forward string, pass ...string) (*execHandler, error) {
	if len(argv) == 0 {
		return nil, errors.New("--exec needs a program")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, fmt.Errorf("--exec program %q: %w", argv[0], err)
	}
	var env []string
	for _, name := range append(execBaseEnv(), pass...) {
		if name == "" || strings.ContainsAny(name, "=\x00") {
			return nil, fmt.Errorf("--env %q: not a variable name", name)
		}
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	return &execHandler{program: path, args: argv[1:], env: env, forward: forward}, nil
}

// jobEnv returns the job's JETPOOL_* variables, refusing metadata that
// cannot be an environment value (a raw publisher may send anything).
func jobEnv(job *jetpool.Job) ([]string, error) {
	for kind, v := range map[string]string{"job ID": job.ID, "queue": job.Queue, "batch ID": job.Batch} {
		if v == "" {
			continue
		}
		if err := jetpool.ValidateName(kind, v); err != nil {
			return nil, jetpool.Permanent(fmt.Errorf("job metadata unfit for the program's environment: %w", err))
		}
	}
	return []string{
		"JETPOOL_JOB_ID=" + job.ID,
		"JETPOOL_QUEUE=" + job.Queue,
		"JETPOOL_BATCH=" + job.Batch,
		"JETPOOL_ATTEMPT=" + strconv.Itoa(job.Attempt),
	}, nil
}

func (h *execHandler) Handle(ctx context.Context, job *jetpool.Job) error {
	jobVars, err := jobEnv(job)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, h.program, h.args...)
	cmd.Stdin = bytes.NewReader(job.Payload)
	var stdout, stderr limitedBuffer
	stdout.limit, stderr.limit = maxOutput, 4096
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(append([]string(nil), h.env...), jobVars...)
	ownGroup(cmd)
	// At the context's end the group gets SIGTERM; WaitDelay later, os/exec
	// kills the program and closes its pipes, and killGroup below ends the
	// rest of the group.
	cmd.Cancel = func() error { return signalGroup(cmd.Process, syscall.SIGTERM) }
	cmd.WaitDelay = execStopGrace
	began := time.Now()
	if err := cmd.Start(); err != nil {
		if ctx.Err() != nil {
			return h.ended(ctx, began)
		}
		return fmt.Errorf("run %s: %w", h.program, err)
	}
	err = cmd.Wait()
	_ = signalGroup(cmd.Process, syscall.SIGKILL) // what the program left behind
	if (h.forward == "" || err != nil) && stdout.Len() > 0 && h.log != nil && h.log.Enabled(ctx, slog.LevelDebug) {
		out := stdout.Bytes()[:min(stdout.Len(), maxLoggedOutput)]
		h.log.DebugContext(ctx, "program output", "job_id", job.ID, "queue", job.Queue, "batch", job.Batch,
			"attempt", job.Attempt, "stdout", string(out), "bytes", stdout.Len())
	}
	if err != nil && ctx.Err() != nil {
		return h.ended(ctx, began)
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		if h.forward != "" {
			if _, err := job.Forward(ctx, h.forward, stdout.Bytes(), nil); err != nil {
				return err
			}
		}
		return nil
	case errors.As(err, &exitErr):
		msg := fmt.Errorf("%s exited with %d: %s", h.program, exitErr.ExitCode(), bytes.TrimSpace(stderr.Bytes()))
		switch exitErr.ExitCode() {
		case execPermanent:
			return jetpool.Permanent(msg)
		case execRetryLater:
			return msg
		}
		return msg
	case errors.Is(err, exec.ErrWaitDelay):
		return fmt.Errorf("%s exited but processes it started held its output open for %s; they were killed: %w", h.program, execStopGrace, err)
	default:
		return fmt.Errorf("run %s: %w", h.program, err)
	}
}

// ended is the error of a program stopped because ctx ended: a timeout or
// the worker stopping. It wraps ctx's error.
func (h *execHandler) ended(ctx context.Context, began time.Time) error {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s stopped: the worker is stopping: %w", h.program, ctx.Err())
	}
	limit := h.timeout
	if limit <= 0 {
		if deadline, ok := ctx.Deadline(); ok {
			limit = deadline.Sub(began).Round(10 * time.Millisecond)
		}
	}
	return &timeoutError{program: h.program, limit: limit}
}

// timeoutError is a program killed at its job's timeout. It is a
// context.DeadlineExceeded, so the pool adds nothing to its message.
type timeoutError struct {
	program string
	limit   time.Duration
}

func (e *timeoutError) Error() string {
	if e.limit <= 0 {
		return e.program + " timed out"
	}
	return fmt.Sprintf("%s timed out after %s", e.program, e.limit)
}

func (e *timeoutError) Unwrap() error { return context.DeadlineExceeded }

// limitedBuffer keeps the first limit bytes written and drops the rest.
type limitedBuffer struct {
	bytes.Buffer
	limit int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.limit - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
