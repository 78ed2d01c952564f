package cli

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// healthCommand probes HTTP health endpoints. It exists for container health
// checks: the images are FROM scratch, with no shell, curl or wget, so the
// probe has to be the binary the image already holds.
func (a *app) healthCommand() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "health URL...",
		Short: "Exit 0 when every URL answers 2xx: a health check for images without a shell",
		Long: `GET every URL and exit 0 when each answers with a 2xx status, 69 when one
cannot be reached and 1 when one answers with another status, printing its
body. Use it as a container health check, for example on a nats-server's
monitoring port (http://127.0.0.1:8222/healthz) or on the /readyz of
jetpool produce --metrics.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, urls []string) error {
			client := &http.Client{Timeout: timeout}
			for _, u := range urls {
				req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, u, nil)
				if err != nil {
					return exitWith(ExitUsage, fmt.Errorf("health: %w", err))
				}
				resp, err := client.Do(req)
				if err != nil {
					return exitWith(ExitUnavailable, fmt.Errorf("health: %w", err))
				}
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
				resp.Body.Close()
				if resp.StatusCode < 200 || resp.StatusCode > 299 {
					return fmt.Errorf("health: %s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
				}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up on a URL after this long")
	return cmd
}
