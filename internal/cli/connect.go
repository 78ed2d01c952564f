package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/config"
	"github.com/jetpool/jetpool/internal/topology"
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
	cfg, err := config.Load(a.configPath)
	if err != nil {
		return nil, jetpool.Names{}, exitWith(ExitUsage, err)
	}
	if a.natsURL != "" {
		cfg.NATSURL = a.natsURL
	}
	if a.prefix != "" {
		cfg.Prefix = a.prefix
	}
	names, err := jetpool.NewNames(cfg.Prefix)
	if err != nil {
		return nil, jetpool.Names{}, exitWith(ExitUsage, fmt.Errorf("--prefix: %w", err))
	}
	return cfg, names, nil
}

// connect opens a client; long-lived commands reconnect forever after the
// first connection succeeds. A server that cannot be reached, or whose
// JetStream does not answer, exits with ExitUnavailable.
func (a *app) connect(ctx context.Context, longLived bool) (*session, error) {
	cfg, names, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	opts := []nats.Option{
		nats.Name("jetpool"),
		nats.Timeout(connectTimeout / 2),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				a.log.Warn("disconnected from NATS", "error", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { a.log.Info("reconnected to NATS", "server", redact(nc.ConnectedUrl())) }),
	}
	if longLived {
		opts = append(opts, nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	}
	nc, err := nats.Connect(cfg.NATSURL, opts...)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) && urlErr.Op == "parse" {
			// The inner error only: the URL may hold a password.
			return nil, exitWith(ExitUsage, fmt.Errorf("bad NATS URL: %w", urlErr.Err))
		}
		return nil, exitWith(ExitUnavailable, fmt.Errorf("cannot reach NATS at %s: %w", redact(cfg.NATSURL), err))
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if _, err := js.AccountInfo(cctx); err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if topology.NoJetStream(err) {
			return nil, exitWith(ExitUnavailable, fmt.Errorf("NATS at %s has no JetStream enabled (start nats-server with -js)", redact(cfg.NATSURL)))
		}
		return nil, exitWith(ExitUnavailable, fmt.Errorf("NATS at %s: JetStream did not answer: %w", redact(cfg.NATSURL), err))
	}
	return &session{cfg: cfg, names: names, nc: nc, js: js}, nil
}

// redact removes credentials from a server URL before it is printed.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = url.User("REDACTED")
	return u.String()
}
