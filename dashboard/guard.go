package dashboard

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// tokenCookie carries the dashboard token once the page was opened with
// ?token=.
const tokenCookie = "jetpool_dashboard"

// csrfHeader carries the page's CSRF token on every POST.
const csrfHeader = "X-Jetpool-Csrf"

// authorized reports whether r carries the token, when one is required, and
// answers the request when it does not. The page opened with ?token= sets
// the cookie and reloads without it, so the token leaves the address bar.
func (h *Handler) authorized(w http.ResponseWriter, r *http.Request) bool {
	if h.opts.Token == "" {
		return true
	}
	if q := r.URL.Query().Get("token"); q != "" && r.Method == http.MethodGet && r.URL.Path == "/" {
		if !equal(q, h.opts.Token) {
			http.Error(w, "wrong token", http.StatusUnauthorized)
			return false
		}
		http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: q, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		// Relative to the address the browser asked for: under a prefix,
		// http.Redirect would resolve it against the stripped path.
		w.Header().Set("Location", "./")
		w.WriteHeader(http.StatusSeeOther)
		return false
	}
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && equal(bearer, h.opts.Token) {
		return true
	}
	if c, err := r.Cookie(tokenCookie); err == nil && equal(c.Value, h.opts.Token) {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="jetpool dashboard"`)
	http.Error(w, "token required: open the dashboard with ?token=TOKEN once, or send Authorization: Bearer TOKEN", http.StatusUnauthorized)
	return false
}

// hostAllowed refuses, when no token is required, a request whose Host is
// neither loopback nor one of Options.Hosts: the same-origin checks below
// trust the browser's idea of the origin, which DNS rebinding controls.
func (h *Handler) hostAllowed(w http.ResponseWriter, r *http.Request) bool {
	if h.opts.Token != "" {
		return true
	}
	host := r.Host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") || slices.ContainsFunc(h.opts.Hosts, func(a string) bool { return strings.EqualFold(a, host) }) {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	h.log.Warn("dashboard: request for another host refused", "host", r.Host, "remote", r.RemoteAddr)
	http.Error(w, "forbidden: host "+strconv.Quote(r.Host)+" is not this dashboard's (no token is set: only localhost and loopback addresses are served)", http.StatusForbidden)
	return false
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// sameOrigin reports whether a state-changing request comes from the page
// itself: the page's CSRF token in its header, no cross-site fetch
// metadata, and an Origin, when sent, naming this host. It answers 403 when
// not.
func (h *Handler) sameOrigin(w http.ResponseWriter, r *http.Request) bool {
	refuse := func(why string) bool {
		h.log.Warn("dashboard: state-changing request refused", "reason", why, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
		http.Error(w, "forbidden: "+why, http.StatusForbidden)
		return false
	}
	if r.Method != http.MethodPost {
		return refuse("changes need POST")
	}
	if !equal(r.Header.Get(csrfHeader), h.csrf) {
		return refuse("missing or wrong " + csrfHeader + " header")
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin":
	default:
		return refuse("cross-site request")
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return refuse("cross-origin request")
		}
	}
	return true
}
