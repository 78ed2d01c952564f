package handlers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/jetpool/jetpool"
)

// Builtin returns a handler for tests and benchmarks, named by spec:
// "noop" completes each job at once, "sleep=DURATION" completes it after
// DURATION (or fails when the job's context ends first), and
// "fail=PROBABILITY" fails it, to be retried, with that probability. When
// forward is set, each completed job's payload is forwarded to that queue.
func Builtin(spec, forward string) (jetpool.Handler, error) {
	name, arg, _ := strings.Cut(spec, "=")
	var work func(ctx context.Context) error
	switch name {
	case "noop":
		work = func(context.Context) error { return nil }
	case "sleep":
		d, err := time.ParseDuration(arg)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("handlers: builtin %q: sleep needs a duration, like sleep=100ms", spec)
		}
		work = func(ctx context.Context) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	case "fail":
		p, err := strconv.ParseFloat(arg, 64)
		if err != nil || p < 0 || p > 1 {
			return nil, fmt.Errorf("handlers: builtin %q: fail needs a probability between 0 and 1, like fail=0.1", spec)
		}
		work = func(context.Context) error {
			if rand.Float64() < p {
				return errors.New("injected failure")
			}
			return nil
		}
	default:
		return nil, fmt.Errorf("handlers: builtin %q: use noop, sleep=DURATION or fail=PROBABILITY", spec)
	}
	return jetpool.HandlerFunc(func(ctx context.Context, job *jetpool.Job) error {
		if err := work(ctx); err != nil {
			return err
		}
		if forward != "" {
			_, err := job.Forward(ctx, forward, job.Payload, nil)
			return err
		}
		return nil
	}), nil
}
