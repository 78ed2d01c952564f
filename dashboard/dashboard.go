// Package dashboard serves jetpool's live web dashboard: queues, batches,
// dead letters, workers and the cluster, updating in the browser without a
// reload, and a search that says where a job is. The page and its script
// are embedded; it makes no request outside the handler.
//
// A Handler can be mounted under any path prefix with [http.StripPrefix]:
// the page uses relative URLs only.
package dashboard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/dlq"
	"github.com/jetpool/jetpool/internal/locate"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options configure a [Handler]. The zero value serves the default
// installation to anyone who can reach it.
type Options struct {
	// Names derives subjects and streams; jetpool.DefaultNames() when zero.
	Names jetpool.Names
	// Monitors are NATS servers' monitoring URLs (http://HOST:8222), read
	// for the JetStream meta leader.
	Monitors []string
	// Token, when not empty, is required of every request: as a bearer
	// Authorization header, or a cookie the page sets from ?token= once.
	Token string
	// Hosts are the Host names (without port) requests may name when Token
	// is empty, besides localhost and loopback addresses, which are always
	// accepted. Any other Host is refused, so that a web page whose name
	// resolves to this machine (DNS rebinding) cannot read or change
	// anything. Set Token, or list the names a proxy in front uses.
	Hosts []string
	// Logger receives failed requests; slog.Default() when nil.
	Logger *slog.Logger
}

// requestTimeout bounds the NATS requests of one API call.
const requestTimeout = 10 * time.Second

// Handler serves the dashboard page and its JSON API.
type Handler struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	opts    Options
	csrf    string // per-process token the page sends back with every POST
	admin   *dlq.Admin
	finder  *locate.Finder
	lookups chan struct{} // one job lookup at a time
	log     *slog.Logger
	mux     *http.ServeMux
}

// New returns a Handler reading the installation through nc and js.
func New(nc *nats.Conn, js jetstream.JetStream, o Options) (*Handler, error) {
	if nc == nil || js == nil {
		return nil, errors.New("dashboard: a NATS connection and its JetStream context are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	admin, err := dlq.New(js, dlq.Options{Names: o.Names, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	finder, err := locate.New(js, o.Names)
	if err != nil {
		return nil, err
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	h := &Handler{nc: nc, js: js, opts: o, csrf: hex.EncodeToString(b[:]), admin: admin, finder: finder,
		lookups: make(chan struct{}, 1), log: o.Logger}
	h.mux = h.routes()
	return h, nil
}

func (h *Handler) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.page)
	mux.Handle("GET /assets/", h.assets())
	mux.HandleFunc("GET /api/status", h.apiStatus)
	mux.HandleFunc("GET /api/batches", h.apiBatches)
	mux.HandleFunc("GET /api/batch", h.apiBatch)
	mux.HandleFunc("GET /api/dead", h.apiDead)
	mux.HandleFunc("GET /api/job", h.apiJob)
	mux.HandleFunc("POST /api/dead/retry", h.apiRetry)
	mux.HandleFunc("POST /api/dead/purge", h.apiPurge)
	return mux
}

// ServeHTTP checks the token and, for a change, the CSRF rules, then
// serves the request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	if r.URL.Path == "" {
		// Mounted under a prefix and asked without the trailing slash:
		// the page's relative URLs need it.
		path, query, _ := strings.Cut(r.RequestURI, "?")
		if query != "" {
			query = "?" + query
		}
		http.Redirect(w, r, path+"/"+query, http.StatusFound)
		return
	}
	if !h.hostAllowed(w, r) || !h.authorized(w, r) {
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !h.sameOrigin(w, r) {
		return
	}
	h.mux.ServeHTTP(w, r)
}

// ctx bounds one API call's requests to NATS.
func (h *Handler) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), requestTimeout)
}
