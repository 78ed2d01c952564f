package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// readyTimeout bounds all readiness checks of one /readyz request.
const readyTimeout = 2 * time.Second

// AddReadiness adds a check that /readyz runs; the process is ready when
// every check returns nil.
func (m *Metrics) AddReadiness(name string, fn func(context.Context) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.checks = append(m.checks, check{name: name, fn: fn})
}

// Ready runs every readiness check and returns the failures, joined.
func (m *Metrics) Ready(ctx context.Context) error {
	m.mu.Lock()
	checks := append([]check(nil), m.checks...)
	m.mu.Unlock()
	var errs []error
	for _, c := range checks {
		if err := c.fn(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
		}
	}
	return errors.Join(errs...)
}

// Handler serves /metrics, /healthz (the process answers) and /readyz (every
// readiness check passes: 200, else 503 naming the failures).
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := m.Ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", strings.ReplaceAll(err.Error(), "\n", "; "))
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// Server is a running metrics listener.
type Server struct {
	srv  *http.Server
	done chan error
	addr string
}

// Serve listens on addr (HOST:PORT; port 0 picks one) and serves h until
// Shutdown.
func Serve(addr string, h http.Handler) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	s := &Server{srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}, done: make(chan error, 1), addr: l.Addr().String()}
	go func() { s.done <- s.srv.Serve(l) }()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.addr }

// Shutdown stops the listener and waits for it within ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// Connected is a readiness check: the NATS connection is up.
func Connected(nc *nats.Conn) func(context.Context) error {
	return func(context.Context) error {
		if st := nc.Status(); st != nats.CONNECTED {
			return fmt.Errorf("NATS connection is %s", st)
		}
		return nil
	}
}

// StreamFound is a readiness check: the work stream answers.
func StreamFound(js jetstream.JetStream, names jetpool.Names) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := js.Stream(ctx, names.WorkStream())
		return err
	}
}

// ConsumerBound is a readiness check: queue's durable consumer answers.
func ConsumerBound(js jetstream.JetStream, names jetpool.Names, queue string) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := js.Consumer(ctx, names.WorkStream(), names.ConsumerName(queue))
		return err
	}
}
