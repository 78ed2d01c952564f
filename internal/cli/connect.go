package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/config"
	"github.com/jetpool/jetpool/internal/redact"
	"github.com/jetpool/jetpool/topology"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// connectTimeout bounds how long an unreachable server takes to report.
const connectTimeout = 5 * time.Second

// session is a live connection and what it was configured with.
type session struct {
	cfg   *config.Config
	names jetpool.Names
	nc    *nats.Conn
	js    jetstream.JetStream
}

func (s *session) close() { s.nc.Close() }

// loadConfig reads the config file and applies the global flags over it.
func (a *app) loadConfig() (*config.Config, jetpool.Names, error) {
	lookup := func(k string) (string, bool) {
		v := a.getenv(k)
		return v, v != ""
	}
	cfg, err := config.LoadEnv(a.configPath, lookup)
	if err != nil {
		return nil, jetpool.Names{}, exitWith(ExitUsage, err)
	}
	if a.natsURL != "" {
		cfg.NATSURL = a.natsURL
	}
	cfg.Client.Overlay(a.client)
	if err := cfg.Client.Validate(cfg.NATSURL); err != nil {
		return nil, jetpool.Names{}, exitWith(ExitUsage, err)
	}
	if a.prefix != "" {
		cfg.Prefix = a.prefix
	}
	names, err := jetpool.NewNames(cfg.Prefix)
	if err != nil {
		return nil, jetpool.Names{}, usageError(fmt.Errorf("--prefix: %w", err))
	}
	return cfg, names, nil
}

// connect opens a client; long-lived commands reconnect forever after the
// first connection succeeds. A server that cannot be reached, or whose
// JetStream does not answer, exits with ExitUnavailable.
func (a *app) connect(ctx context.Context, longLived bool) (*session, error) {
	return a.dial(ctx, longLived, false)
}

// connectWaiting connects like a long-lived command, and while the server
// is unreachable or JetStream is not answering yet it waits, with a log
// line, until ctx ends: workers and producers may start before their
// server.
func (a *app) connectWaiting(ctx context.Context) (*session, error) {
	return a.dial(ctx, true, true)
}

// notUpYet reports whether a failed connect is one that a server still
// starting (or not started) gives: nothing listens, or it closes the
// connection before its INFO or while the client writes its CONNECT (a
// broken pipe). Refused credentials or TLS are not.
func notUpYet(err error) bool {
	return errors.Is(err, nats.ErrNoServers) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE)
}

func (a *app) dial(ctx context.Context, longLived, wait bool) (*session, error) {
	cfg, names, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	secure, err := cfg.NATSOptions()
	if err != nil {
		return nil, exitWith(ExitUsage, err)
	}
	opts := []nats.Option{
		nats.Name("jetpool"),
		nats.Timeout(connectTimeout / 2),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				a.log.Warn("disconnected from NATS; acks the server had not received are lost, and their jobs run again after the consumer's AckWait", "error", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { a.log.Info("reconnected to NATS", "server", redact.URL(nc.ConnectedUrl())) }),
		a.natsErrorHandler(),
	}
	opts = append(opts, secure...)
	dialer := &dialRecorder{d: net.Dialer{Timeout: connectTimeout / 2}}
	opts = append(opts, nats.SetCustomDialer(dialer))
	if longLived {
		opts = append(opts, nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	}
	nc, err := nats.Connect(cfg.NATSURL, opts...)
	if err != nil && wait && notUpYet(err) {
		// A worker or producer started before its server waits for it.
		a.log.Warn("NATS unreachable; waiting for it", "url", redact.URL(cfg.NATSURL), "error", connectError(cfg, dialer.lastAddr(), err))
		for err != nil && notUpYet(err) {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Second):
			}
			nc, err = nats.Connect(cfg.NATSURL, opts...)
		}
		if err == nil {
			a.log.Info("connected to NATS", "server", redact.URL(nc.ConnectedUrl()))
		}
	}
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) && urlErr.Op == "parse" {
			// The inner error only: the URL may hold a password.
			return nil, exitWith(ExitUsage, fmt.Errorf("bad NATS URL: %w", urlErr.Err))
		}
		return nil, exitWith(ExitUnavailable, connectError(cfg, dialer.lastAddr(), err))
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	for wait {
		// A server that is starting answers JetStream a little later.
		cctx, cancel := context.WithTimeout(ctx, connectTimeout)
		_, err := js.AccountInfo(cctx)
		cancel()
		if err == nil || !topology.Transient(err) || ctx.Err() != nil {
			break
		}
		a.log.Warn("JetStream not answering yet; waiting", "error", err)
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if _, err := js.AccountInfo(cctx); err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if topology.NoJetStream(err) {
			return nil, exitWith(ExitUnavailable, fmt.Errorf("NATS at %s has no JetStream enabled (start nats-server with -js)", redact.URL(cfg.NATSURL)))
		}
		return nil, exitWith(ExitUnavailable, fmt.Errorf("NATS at %s: JetStream did not answer: %w", redact.URL(cfg.NATSURL), err))
	}
	return &session{cfg: cfg, names: names, nc: nc, js: js}, nil
}

// connectError explains why nats.Connect failed, with a hint for what the
// operator can change; addr is the server address dialed last.
func connectError(cfg *config.Config, addr string, err error) error {
	var (
		verr  *tls.CertificateVerificationError
		herr  x509.HostnameError
		uaerr x509.UnknownAuthorityError
		ierr  x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &herr):
		return fmt.Errorf("cannot connect to NATS at %s: TLS: the certificate of %s does not name %s: %w; connect with a host name it names",
			redact.URL(cfg.NATSURL), addr, herr.Host, herr)
	case errors.As(err, &verr) || errors.As(err, &uaerr) || errors.As(err, &ierr):
		return fmt.Errorf("cannot connect to NATS at %s: TLS: the certificate of %s failed verification: %w; give the CA that signed it with --tlsca (NATS_CA, nats_ca)",
			redact.URL(cfg.NATSURL), addr, err)
	case errors.Is(err, nats.ErrTLS) || errors.Is(err, nats.ErrSecureConnWanted) || errors.Is(err, nats.ErrSecureConnRequired):
		return fmt.Errorf("cannot connect to NATS at %s: TLS with %s: %w (check --tlsca, --tlscert and --tlskey against the server's TLS settings)",
			redact.URL(cfg.NATSURL), addr, err)
	case errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrAccountAuthExpired):
		return fmt.Errorf("NATS at %s refused the credentials: %w", redact.URL(cfg.NATSURL), err)
	}
	return fmt.Errorf("cannot reach NATS at %s: %w", redact.URL(cfg.NATSURL), err)
}

// natsErrorHandler logs a connection's asynchronous errors, such as a
// permissions violation, instead of nats.go's default print to os.Stderr.
func (a *app) natsErrorHandler() nats.Option {
	return nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
		if sub != nil {
			a.log.Error("NATS", "error", err, "subscription", sub.Subject)
			return
		}
		a.log.Error("NATS", "error", err)
	})
}

// dialRecorder dials as nats.go would and remembers the address it dialed
// last, so that a TLS failure can name the server that caused it.
type dialRecorder struct {
	d    net.Dialer
	mu   sync.Mutex
	last string
}

func (r *dialRecorder) Dial(network, addr string) (net.Conn, error) {
	r.mu.Lock()
	r.last = addr
	r.mu.Unlock()
	return r.d.Dial(network, addr)
}

func (r *dialRecorder) lastAddr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}
