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

// dashboardCmd is `jetpool dashboard`.
type dashboardCmd struct {
	a             *app
	listen, token string
	monitors      []string
}

func (a *app) dashboardCommand() *cobra.Command {
	c := &dashboardCmd{a: a}
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve the live web dashboard: queues, batches, dead letters (retry, purge), workers, the cluster, and finding a job",
		Long: `Serve the live web dashboard on --listen, a loopback address by default.

Bound to any other address it requires a token (--dashboard-token, or
$JETPOOL_DASHBOARD_TOKEN, at least 16 characters): open the page once as
http://HOST:PORT/?token=TOKEN, which sets a cookie, or send
"Authorization: Bearer TOKEN". Retry and purge take POST requests from the
page only (a per-process CSRF token and a same-origin check), and the page
asks before it purges.`,
		Args: cobra.NoArgs,
		RunE: c.run,
	}
	cmd.Flags().StringVar(&c.listen, "listen", "127.0.0.1:8080", "HOST:PORT to serve on; an address other than loopback needs a token")
	cmd.Flags().StringVar(&c.token, "dashboard-token", "", "token every request must carry; prefer $JETPOOL_DASHBOARD_TOKEN, as flags show in ps (default: $JETPOOL_DASHBOARD_TOKEN)")
	cmd.Flags().StringSliceVar(&c.monitors, "monitor", nil, "monitoring URL of a NATS server (http://HOST:8222), repeatable or comma-separated, to show the JetStream meta leader (default: $JETPOOL_MONITOR)")
	return cmd
}

func (c *dashboardCmd) run(cmd *cobra.Command, _ []string) error {
	a := c.a
	token, monitors := c.token, c.monitors
	if token == "" {
		token = a.getenv("JETPOOL_DASHBOARD_TOKEN")
	}
	if len(monitors) == 0 {
		monitors = splitList(a.getenv("JETPOOL_MONITOR"))
	}
	if err := checkDashboardListen(c.listen, token); err != nil {
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
	return a.serveDashboard(cmd.Context(), c.listen, h, token != "")
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
	a.printURL(url)
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
