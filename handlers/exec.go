package handlers

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
	"github.com/jetpool/jetpool/internal/capped"
)

// Exit codes of an exec handler's program, and the output it keeps.
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
	log     *slog.Logger  // the program's stdout, when not forwarded, at debug level
}

// execBaseEnv names the variables of the worker's environment that every
// program gets; ExecOptions.Env adds others by name. Nothing else passes, so
// the worker's NATS credentials never reach job programs.
func execBaseEnv() []string { return []string{"PATH", "HOME"} }

// ExecOptions configures [Exec]. A zero field takes its default; a negative
// one is an error.
type ExecOptions struct {
	// Argv is the program, looked up in PATH, and its arguments. No shell is
	// involved. Required.
	Argv []string
	// Env names variables of this process's environment that the program
	// gets besides PATH, HOME and the job's JETPOOL_* variables; each is
	// read once, by Exec.
	Env []string
	// Forward, when set, is the queue that receives the program's stdout
	// when it succeeds.
	Forward string
	// Timeout is the job timeout of the pool running the handler, used only
	// in messages ("timed out after 1s"); the context's deadline when zero.
	Timeout time.Duration
	// Logger receives, at debug level, the program's stdout when it is not
	// forwarded; slog.Default() when nil.
	Logger *slog.Logger
}

// Exec returns a handler that runs a program once per job: the payload on
// stdin, the job's ID, queue, batch and attempt in JETPOOL_JOB_ID,
// JETPOOL_QUEUE, JETPOOL_BATCH and JETPOOL_ATTEMPT. Exit status 0 completes
// the job, 65 (EX_DATAERR) dead-letters it at once, any other retries it.
// The program runs in a process group of its own that ends with the job.
func Exec(opts ExecOptions) (jetpool.Handler, error) {
	h, err := newExecHandler(opts)
	if err != nil {
		return nil, err
	}
	return h, nil
}

func newExecHandler(opts ExecOptions) (*execHandler, error) {
	if len(opts.Argv) == 0 {
		return nil, errors.New("handlers: ExecOptions.Argv is empty: give a program")
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("handlers: ExecOptions.Timeout is %s: it must not be negative", opts.Timeout)
	}
	path, err := exec.LookPath(opts.Argv[0])
	if err != nil {
		return nil, fmt.Errorf("handlers: program %q: %w", opts.Argv[0], err)
	}
	var env []string
	for _, name := range append(execBaseEnv(), opts.Env...) {
		if name == "" || strings.ContainsAny(name, "=\x00") {
			return nil, fmt.Errorf("handlers: ExecOptions.Env %q: not a variable name", name)
		}
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &execHandler{program: path, args: opts.Argv[1:], env: env, forward: opts.Forward,
		timeout: opts.Timeout, log: log}, nil
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
	stdout, stderr := capped.Buffer{Limit: maxOutput}, capped.Buffer{Limit: 4096}
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
	// Kill what the program left behind; a group already empty is the
	// usual case.
	if kerr := signalGroup(cmd.Process, syscall.SIGKILL); kerr != nil && !errors.Is(kerr, os.ErrProcessDone) {
		h.log.WarnContext(ctx, "killing the processes a program left behind", "program", h.program,
			"job_id", job.ID, "queue", job.Queue, "error", kerr)
	}
	if (h.forward == "" || err != nil) && stdout.Len() > 0 && h.log.Enabled(ctx, slog.LevelDebug) {
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
