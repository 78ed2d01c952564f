package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/jetpool/jetpool"
)

// Exit codes of an --exec program.
const (
	execRetryLater = 75 // EX_TEMPFAIL: retry later
	execPermanent  = 65 // EX_DATAERR: dead-letter now
	maxOutput      = 8 << 20
)

// execHandler runs a program once per job: payload on stdin, metadata in
// the environment. No shell is involved.
type execHandler struct {
	program string
	args    []string
	forward string // queue that receives stdout on success; none when empty
}

func newExecHandler(argv []string, forward string) (*execHandler, error) {
	if len(argv) == 0 {
		return nil, errors.New("--exec needs a program")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, fmt.Errorf("--exec program %q: %w", argv[0], err)
	}
	return &execHandler{program: path, args: argv[1:], forward: forward}, nil
}

func (h *execHandler) Handle(ctx context.Context, job *jetpool.Job) error {
	cmd := exec.CommandContext(ctx, h.program, h.args...)
	cmd.Stdin = bytes.NewReader(job.Payload)
	var stdout, stderr limitedBuffer
	stdout.limit, stderr.limit = maxOutput, 4096
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(),
		"JETPOOL_JOB_ID="+job.ID,
		"JETPOOL_QUEUE="+job.Queue,
		"JETPOOL_BATCH="+job.Batch,
		"JETPOOL_ATTEMPT="+strconv.Itoa(job.Attempt),
	)
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("%s killed: %w", h.program, ctx.Err())
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
	default:
		return fmt.Errorf("run %s: %w", h.program, err)
	}
}

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
