package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/jetpool/jetpool/internal/redact"
	"github.com/nats-io/nats-server/v2/server"
)

// Options configure an embedded server. The zero value (with a StoreDir)
// gives a standalone JetStream server on 127.0.0.1 and a random port.
type Options struct {
	// Listen is HOST:PORT for clients; "127.0.0.1:-1" (a random port) when empty.
	Listen string
	// StoreDir is where JetStream keeps its files, created if needed. Required.
	// A running server locks it (see StartContext).
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

	// ConfigFile is a nats-server configuration file: the server takes its
	// users, permissions, accounts, TLS, limits and the rest from it. What
	// these Options set wins over the file: Listen always (a server's
	// address is jetpool's to choose; the file's listen, host and port are
	// replaced, with a warning when they differ), StoreDir always (JetStream
	// is always enabled), and HTTP, ServerName and the cluster settings
	// when set. See docs/security.md.
	ConfigFile string
	// TLS, when set, makes every client connect with TLS; with ClientAuth
	// tls.RequireAndVerifyClientCert and ClientCAs, clients must present a
	// certificate those authorities signed (mutual TLS). It replaces the
	// file's tls block.
	TLS *tls.Config
	// Users may connect with their password, within their Permissions (all
	// subjects when nil), besides the file's users.
	Users []*server.User
}

// Server is a running embedded nats-server. It holds the lock on its store
// directory until Shutdown returns.
type Server struct {
	ns   *server.Server
	lock *storeLock
}

// Start is StartContext without cancellation.
func Start(o Options) (*Server, error) { return StartContext(context.Background(), o) }

// StartContext locks o.StoreDir, runs an embedded server and waits until it
// accepts clients.
//
// The lock is an exclusive flock on LockFile inside the store directory,
// which is created if needed; it is held until Shutdown returns, and the
// kernel drops it if the process dies. StartContext fails at once, naming
// the cause, when the store directory is in use by another broker or is not
// a usable directory, and when nats-server cannot start, such as on an
// address already in use. When ctx ends first it stops the half-started
// server, releases the lock and returns an error wrapping ctx.Err(); a store
// that nats-server is recovering is finished first, so that no file is
// written once the lock is gone.
func StartContext(ctx context.Context, o Options) (*Server, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	opts, err := o.serverOptions(logger)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("broker: start interrupted: %w", err)
	}
	lock, err := lockStore(o.StoreDir)
	if err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		lock.release()
		return nil, fmt.Errorf("configure nats-server: %w", err)
	}
	fatal := &fatalCatcher{slogAdapter: &slogAdapter{l: logger.With("component", "nats-server")}, first: make(chan string, 1)}
	ns.SetLoggerV2(fatal, false, false, false)
	// nats-server's Start recovers the JetStream store before it listens,
	// which can take a while; running it aside lets a cancellation or a
	// fatal error end the wait.
	started := make(chan struct{})
	go func() {
		defer close(started)
		ns.Start()
	}()
	if err := awaitReady(ctx, ns, fatal.first, o.readyTimeout(), opts); err != nil {
		// Shutting down while Start is still opening the store could
		// leave files open after the lock is gone, so let it return first.
		<-started
		ns.Shutdown()
		ns.WaitForShutdown()
		lock.release()
		return nil, err
	}
	<-started
	return &Server{ns: ns, lock: lock}, nil
}

func (o Options) readyTimeout() time.Duration {
	if o.ReadyTimeout <= 0 {
		return 10 * time.Second
	}
	return o.ReadyTimeout
}

// awaitReady waits until ns accepts clients and routes, returning early
// with nats-server's first fatal error or when ctx ends.
func awaitReady(ctx context.Context, ns *server.Server, fatal <-chan string, wait time.Duration, opts *server.Options) error {
	deadline := time.Now().Add(wait)
	for {
		select {
		case msg := <-fatal:
			return fmt.Errorf("broker: nats-server could not start: %s", msg)
		case <-ctx.Done():
			return fmt.Errorf("broker: start interrupted: %w", ctx.Err())
		default:
		}
		// A short readiness check per round keeps a fatal error or a
		// cancellation from waiting out the whole timeout.
		if ns.ReadyForConnections(50 * time.Millisecond) {
			select {
			case msg := <-fatal:
				return fmt.Errorf("broker: nats-server could not start: %s", msg)
			default:
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("broker: nats-server did not accept clients on %s within %s", net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port)), wait)
		}
	}
}

// fatalCatcher hands the first fatal message of nats-server to Start, which
// would otherwise only log it and wait for a listener that never comes.
type fatalCatcher struct {
	*slogAdapter
	first chan string
}

func (c *fatalCatcher) Fatalf(format string, v ...any) {
	select {
	case c.first <- fmt.Sprintf(format, v...):
	default:
	}
	c.slogAdapter.Fatalf(format, v...)
}

// serverOptions merges o over the config file's options, logging to log
// the file's settings that o replaces.
func (o Options) serverOptions(log *slog.Logger) (*server.Options, error) {
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
	opts := &server.Options{}
	if o.ConfigFile != "" {
		// nats-server's errors name the file, line and key, never a
		// value the file holds.
		if opts, err = server.ProcessConfigFile(o.ConfigFile); err != nil {
			return nil, fmt.Errorf("broker: server config: %w", err)
		}
		if opts.Port != 0 && (opts.Port != port || (opts.Host != "" && opts.Host != host)) {
			log.Warn("the server config's listen address is replaced", "config", net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port)), "listen", listen)
		}
		if opts.StoreDir != "" && opts.StoreDir != o.StoreDir {
			log.Warn("the server config's JetStream store_dir is replaced", "config", opts.StoreDir, "store", o.StoreDir)
		}
	}
	opts.Host, opts.Port = host, port
	opts.JetStream = true
	opts.StoreDir = o.StoreDir
	opts.NoSigs = true
	if opts.MaxPayload == 0 {
		opts.MaxPayload = 8 << 20
	}
	if o.ServerName != "" {
		opts.ServerName = o.ServerName
	}
	if o.HTTP != "" {
		if opts.HTTPHost, opts.HTTPPort, err = splitHostPort("http", o.HTTP); err != nil {
			return nil, err
		}
	}
	if o.TLS != nil {
		opts.TLSConfig = o.TLS
		opts.TLS = true
		opts.TLSVerify = o.TLS.ClientAuth == tls.RequireAndVerifyClientCert
	}
	opts.Users = append(opts.Users, o.Users...)
	if o.ClusterName != "" || o.ClusterListen != "" || len(o.Routes) > 0 {
		if o.ClusterName == "" || o.ClusterListen == "" {
			return nil, errors.New("broker: a cluster member needs both a cluster name and a cluster listen address")
		}
		// The file may still give the cluster's TLS and authorization.
		opts.Cluster.Name = o.ClusterName
		if opts.Cluster.Host, opts.Cluster.Port, err = splitHostPort("cluster listen", o.ClusterListen); err != nil {
			return nil, err
		}
		opts.Routes = nil
		for _, r := range o.Routes {
			u, err := url.Parse(r)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("broker: route %q is not a URL like nats://host:6222", redact.URL(r))
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	if opts.Cluster.Port != 0 && opts.ServerName == "" {
		// Cluster members need distinct names: the host and cluster port.
		host, _ := os.Hostname()
		opts.ServerName = fmt.Sprintf("%s-%d", host, opts.Cluster.Port)
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
// The store directory's lock is released once the server has stopped, so
// when Shutdown returns nil a new broker can start on the same store.
func (s *Server) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		s.lock.release()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("broker: shutdown did not finish: %w", ctx.Err())
	}
}
