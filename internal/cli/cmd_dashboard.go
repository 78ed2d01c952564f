package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/jetpool/jetpool/dashboard"
	"github.com/spf13/cobra"
)

// minDashboardToken is the shortest dashboard token accepted, in bytes.
const minDashboardToken = 16

func (a *app) dashboardCommand() *cobra.Command {
	var listen, token string
	var monitors []string
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve the live web dashboard: queues, batches, dead letters (retry, purge), workers, the cluster, and finding a job",
		Long: `Serve the live web dashboard on --listen, a loopback address by default.

Bound to any other address it requires a token (--dashboard-token, or
$JETPOOL_DASHBOARD_TOKEN, at least 16 characters): open the page once as
http://HOST:PORT/?token=TOKEN, which sets a cookie, or send
"Authorization: Bearer TOKEN". Retry and purge take POST requests from the
page only (a per-process CSRF token and a same-origin check).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if token == "" {
				token = a.getenv("JETPOOL_DASHBOARD_TOKEN")
			}
			if len(monitors) == 0 {
				monitors = splitList(a.getenv("JETPOOL_MONITOR"))
			}
			if err := checkDashboardListen(listen, token); err != nil {
				return usageError(err)
			}
			s, err := a.connect(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer s.close()
			h, err := dashboard.New(s.nc, s.js, dashboard.Options{Names: s.names, Monitors: monitors, Token: token, Logger: a.log})
			if err != nil {
				return err
			}
			return a.serveDashboard(cmd.Context(), listen, h, token != "")
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "HOST:PORT to serve on; an address other than loopback needs a token")
	cmd.Flags().StringVar(&token, "dashboard-token", "", "token every request must carry; prefer $JETPOOL_DASHBOARD_TOKEN, as flags show in ps (default: $JETPOOL_DASHBOARD_TOKEN)")
	cmd.Flags().StringSliceVar(&monitors, "monitor", nil, "monitoring URL of a NATS server (http://HOST:8222), repeatable or comma-separated, to show the JetStream meta leader (default: $JETPOOL_MONITOR)")
	return cmd
}

// checkDashboardListen refuses a non-loopback address without a token, and
// a token too short to resist guessing.
func checkDashboardListen(listen, token string) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen %q: want HOST:PORT: %w", listen, err)
	}
	if token != "" && len(token) < minDashboardToken {
		return fmt.Errorf("the dashboard token is %d characters; give at least %d", len(token), minDashboardToken)
	}
	if token == "" && !loopback(host) {
		return fmt.Errorf("--listen %q is not a loopback address: give a token (--dashboard-token or $JETPOOL_DASHBOARD_TOKEN) so that only its holders see and change the queues", listen)
	}
	return nil
}

// loopback reports whether host names only this machine.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serveDashboard serves h on listen until ctx ends.
func (a *app) serveDashboard(ctx context.Context, listen string, h http.Handler, withToken bool) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("dashboard: listen on %s: %w", listen, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	url := "http://" + l.Addr().String() + "/"
	a.log.Info("dashboard listening", "url", url, "token_required", withToken)
	fmt.Fprintln(a.stdout, url)
	select {
	case <-ctx.Done():
	case err := <-done:
		return fmt.Errorf("dashboard: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-done; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
