package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configure an embedded server. The zero value (with a StoreDir)
// gives a standalone JetStream server on 127.0.0.1 and a random port.
type Options struct {
	// Listen is HOST:PORT for clients; "127.0.0.1:-1" (a random port) when empty.
	Listen string
	// StoreDir is where JetStream keeps its files. Required.
	StoreDir string
	// ServerName names the server; in a cluster it defaults to the host
	// name and the cluster port.
	ServerName string
	// HTTP is HOST:PORT of the monitoring endpoint; none when empty.
	HTTP string
	// ClusterName, ClusterListen and Routes make the server a cluster member.
	ClusterName   string
	ClusterListen string
	Routes        []string
	// ReadyTimeout bounds the wait for the server to accept clients; 10s when zero.
	ReadyTimeout time.Duration
	// Logger receives the server's log; slog.Default() when nil.
	Logger *slog.Logger
}

// Server is a running embedded nats-server.
type Server struct {
	ns *server.Server
}

// Start runs an embedded server and waits until it accepts clients.
func Start(o Options) (*Server, error) {
	opts, err := o.serverOptions()
	if err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("configure nats-server: %w", err)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	ns.SetLoggerV2(&slogAdapter{l: logger.With("component", "nats-server")}, false, false, false)
	ns.Start()
	wait := o.ReadyTimeout
	if wait <= 0 {
		wait = 10 * time.Second
	}
	if !ns.ReadyForConnections(wait) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("nats-server did not accept clients on %s within %s", o.Listen, wait)
	}
	return &Server{ns: ns}, nil
}

func (o Options) serverOptions() (*server.Options, error) {
	if o.StoreDir == "" {
		return nil, errors.New("broker: StoreDir is required")
	}
	listen := o.Listen
	if listen == "" {
		listen = "127.0.0.1:-1"
	}
	host, port, err := splitHostPort("listen", listen)
	if err != nil {
		return nil, err
	}
	opts := &server.Options{
		ServerName: o.ServerName,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		NoSigs:     true,
		MaxPayload: 8 << 20,
	}
	if o.HTTP != "" {
		if opts.HTTPHost, opts.HTTPPort, err = splitHostPort("http", o.HTTP); err != nil {
			return nil, err
		}
	}
	if o.ClusterName != "" || o.ClusterListen != "" || len(o.Routes) > 0 {
		if o.ClusterName == "" || o.ClusterListen == "" {
			return nil, errors.New("broker: a cluster member needs both a cluster name and a cluster listen address")
		}
		opts.Cluster.Name = o.ClusterName
		if opts.Cluster.Host, opts.Cluster.Port, err = splitHostPort("cluster listen", o.ClusterListen); err != nil {
			return nil, err
		}
		if opts.ServerName == "" {
			// Cluster members need distinct names: the host and cluster port.
			host, _ := os.Hostname()
			opts.ServerName = fmt.Sprintf("%s-%d", host, opts.Cluster.Port)
		}
		for _, r := range o.Routes {
			u, err := url.Parse(r)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("broker: route %q is not a URL like nats://host:6222", r)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	return opts, nil
}

func splitHostPort(what, hp string) (string, int, error) {
	host, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, fmt.Errorf("broker: %s address %q is not HOST:PORT: %w", what, hp, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < -1 || port > 65535 {
		return "", 0, fmt.Errorf("broker: %s address %q has an invalid port", what, hp)
	}
	return host, port, nil
}

// ClientURL is the URL clients connect to.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// NATS exposes the underlying server for advanced use.
func (s *Server) NATS() *server.Server { return s.ns }

// Shutdown stops the server and waits until it has stopped or ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("broker: shutdown did not finish: %w", ctx.Err())
	}
}
