package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// healthCmd is `jetpool health`. It exists for container health checks:
// the images are FROM scratch, with no shell, curl or wget, so the probe
// has to be the binary the image already holds.
type healthCmd struct {
	a       *app
	timeout time.Duration
}

func (a *app) healthCommand() *cobra.Command {
	c := &healthCmd{a: a}
	cmd := &cobra.Command{
		Use:   "health URL...",
		Short: "Exit 0 when every URL answers 2xx: a health check for images without a shell",
		Long: `GET every URL and exit 0 when each answers with a 2xx status, 69 when one
cannot be reached, 2 when --timeout runs out before every URL answered, and 1
when one answers with another status, printing its body. Use it as a
container health check, for example on a nats-server's monitoring port
(http://127.0.0.1:8222/healthz) or on the /readyz of jetpool produce
--metrics.`,
		Args: cobra.MinimumNArgs(1),
		RunE: c.run,
	}
	cmd.Flags().DurationVar(&c.timeout, "timeout", 3*time.Second, "give up after this long (exit 2)")
	return cmd
}

func (c *healthCmd) run(cmd *cobra.Command, urls []string) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), c.timeout)
	defer cancel()
	for _, u := range urls {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return exitWith(ExitUsage, fmt.Errorf("health: %w", err))
		}
		resp, err := (&http.Client{}).Do(req)
		if err != nil {
			if cmd.Context().Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return exitWith(ExitTimeout, fmt.Errorf("health: %s: no answer within --timeout %s", u, c.timeout))
			}
			return exitWith(ExitUnavailable, fmt.Errorf("health: %w", err))
		}
		body := readBody(resp)
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return fmt.Errorf("health: %s: %s: %s", u, resp.Status, body)
		}
	}
	return nil
}

// readBody reads the start of an answer's body, which a failed check
// prints, and closes it; a body that cannot be read says why instead.
func readBody(resp *http.Response) string {
	body, err := io.ReadAll(io.LimitReader(resp.Body, 512))
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Sprintf("%s (body not read: %v)", strings.TrimSpace(string(body)), err)
	}
	return strings.TrimSpace(string(body))
}
