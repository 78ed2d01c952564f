package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Secret is a string that never prints: fmt, slog and JSON show [REDACTED]
// in its place. Passwords and tokens are Secrets so that no log line or
// error can carry one by accident.
type Secret string

const redacted = "[REDACTED]"

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.String()) }

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText keeps encoders from printing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Client is how a client authenticates to NATS and secures its connection:
// the settings of the nats CLI, as top-level keys of the file. Files are
// named, not inlined: a seed or a key is read from its file when connecting
// and is never kept in the configuration.
//
// Precedence: command-line flags, then the environment, then the file. At
// most one way to authenticate may be given: user and password, token, NKey
// or credentials (and not also a user inside nats_url).
type Client struct {
	User     string `yaml:"nats_user"`     // $NATS_USER, --user
	Password Secret `yaml:"nats_password"` // $NATS_PASSWORD, --password
	Token    Secret `yaml:"nats_token"`    // $NATS_TOKEN, --token
	// NKey is a file holding an NKey user seed (SU...).
	NKey string `yaml:"nats_nkey"` // $NATS_NKEY, --nkey
	// Creds is a credentials file: a user JWT and its NKey seed, as nsc
	// and the nats CLI write them.
	Creds string `yaml:"nats_creds"` // $NATS_CREDS, --creds
	// Cert and Key are a PEM client certificate and its key, for mutual TLS.
	Cert string `yaml:"nats_cert"` // $NATS_CERT, --tlscert
	Key  string `yaml:"nats_key"`  // $NATS_KEY, --tlskey
	// CA is a PEM file of the certificate authorities that sign the
	// servers' certificates; the system's when empty.
	CA string `yaml:"nats_ca"` // $NATS_CA, --tlsca
	// TLSFirst does the TLS handshake before the server's INFO (the
	// server needs handshake_first).
	TLSFirst bool `yaml:"nats_tls_first"` // --tlsfirst
	// InboxPrefix replaces _INBOX as the prefix of reply subjects, so that
	// a user's permissions can confine its replies to its own prefix.
	InboxPrefix string `yaml:"nats_inbox_prefix"` // $NATS_INBOX_PREFIX, --inbox-prefix

	from map[string]string // where each field was set, for errors
}

// clientField is one string setting of Client with its names.
type clientField struct {
	key, env, flag string
	ptr            func(*Client) *string
}

var clientFields = []clientField{
	{"user", "NATS_USER", "--user", func(c *Client) *string { return &c.User }},
	{"password", "NATS_PASSWORD", "--password", func(c *Client) *string { return (*string)(&c.Password) }},
	{"token", "NATS_TOKEN", "--token", func(c *Client) *string { return (*string)(&c.Token) }},
	{"nkey", "NATS_NKEY", "--nkey", func(c *Client) *string { return &c.NKey }},
	{"creds", "NATS_CREDS", "--creds", func(c *Client) *string { return &c.Creds }},
	{"cert", "NATS_CERT", "--tlscert", func(c *Client) *string { return &c.Cert }},
	{"key", "NATS_KEY", "--tlskey", func(c *Client) *string { return &c.Key }},
	{"ca", "NATS_CA", "--tlsca", func(c *Client) *string { return &c.CA }},
	{"inbox_prefix", "NATS_INBOX_PREFIX", "--inbox-prefix", func(c *Client) *string { return &c.InboxPrefix }},
}

func (c *Client) setFrom(key, source string) {
	if c.from == nil {
		c.from = make(map[string]string)
	}
	c.from[key] = source
}

// source names where the setting key came from: a flag, an environment
// variable or the file's key.
func (c *Client) source(key string) string {
	if s, ok := c.from[key]; ok {
		return s
	}
	if key == "tls_first" {
		return "nats_tls_first"
	}
	return "nats_" + key
}

func (c *Client) overlayEnv(lookup func(string) (string, bool)) {
	for _, f := range clientFields {
		if v, ok := lookup(f.env); ok && v != "" {
			*f.ptr(c) = v
			c.setFrom(f.key, f.env)
		}
	}
}

// Overlay applies the settings of flags that are set (non-empty) over c, as
// the command's flags of the same names.
func (c *Client) Overlay(flags Client) {
	for _, f := range clientFields {
		if v := *f.ptr(&flags); v != "" {
			*f.ptr(c) = v
			c.setFrom(f.key, f.flag)
		}
	}
	if flags.TLSFirst {
		c.TLSFirst = true
		c.setFrom("tls_first", "--tlsfirst")
	}
}

// AuthMethods lists the ways to authenticate that are set, each named by
// the flag, variable or key that set it.
func (c *Client) AuthMethods() []string {
	var set []string
	switch {
	case c.User != "":
		set = append(set, c.source("user"))
	case c.Password != "":
		set = append(set, c.source("password"))
	}
	if c.Token != "" {
		set = append(set, c.source("token"))
	}
	if c.NKey != "" {
		set = append(set, c.source("nkey"))
	}
	if c.Creds != "" {
		set = append(set, c.source("creds"))
	}
	return set
}

// Validate checks that the settings fit together, without reading files;
// natsURL is the server URL, which may carry a user of its own. Errors name
// settings by their source, never by their value.
func (c *Client) Validate(natsURL string) error {
	methods := c.AuthMethods()
	if len(methods) > 1 {
		return fmt.Errorf("config: %s and %s are both set: authenticate one way (user and password, token, NKey or credentials)", methods[0], methods[1])
	}
	if len(methods) == 1 && urlHasUser(natsURL) {
		return fmt.Errorf("config: the NATS URL carries credentials and %s is set too: give them one way", methods[0])
	}
	if c.Password != "" && c.User == "" {
		return fmt.Errorf("config: %s is set without a user (--user, NATS_USER or nats_user)", c.source("password"))
	}
	if c.User != "" && c.Password == "" {
		return fmt.Errorf("config: %s is set without a password (--password, NATS_PASSWORD or nats_password)", c.source("user"))
	}
	if (c.Cert == "") != (c.Key == "") {
		if c.Cert == "" {
			return fmt.Errorf("config: %s is set without a client certificate (--tlscert, NATS_CERT or nats_cert)", c.source("key"))
		}
		return fmt.Errorf("config: %s is set without its private key (--tlskey, NATS_KEY or nats_key)", c.source("cert"))
	}
	if p := c.InboxPrefix; p != "" && (strings.ContainsAny(p, "*> \t\r\n") || strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".") || strings.Contains(p, "..")) {
		return fmt.Errorf("config: %s %q is not a subject prefix (tokens separated by dots, no wildcards)", c.source("inbox_prefix"), p)
	}
	return nil
}

// urlHasUser reports whether any of the comma-separated URLs holds a user
// or a token.
func urlHasUser(urls string) bool {
	for _, s := range strings.Split(urls, ",") {
		s = strings.TrimSpace(s)
		if _, rest, ok := strings.Cut(s, "://"); ok {
			s = rest
		}
		if end := strings.IndexAny(s, "/?#"); end >= 0 {
			s = s[:end]
		}
		if strings.Contains(s, "@") {
			return true
		}
	}
	return false
}

// Secure reports whether the settings ask for TLS.
func (c *Client) Secure() bool {
	return c.CA != "" || c.Cert != "" || c.TLSFirst
}

// AuthOptions returns the nats.Connect options that authenticate, after
// reading and checking the NKey or credentials file: a file that is missing
// or unreadable, holds no user seed, or whose user JWT has expired or is not
// valid yet is an error naming the file. The options read the files again
// on every connection, so no seed stays in memory.
func (c *Client) AuthOptions() ([]nats.Option, error) {
	return c.authOptions(time.Now())
}

func (c *Client) authOptions(now time.Time) ([]nats.Option, error) {
	switch {
	case c.User != "":
		return []nats.Option{nats.UserInfo(c.User, string(c.Password))}, nil
	case c.Token != "":
		return []nats.Option{nats.Token(string(c.Token))}, nil
	case c.NKey != "":
		if err := checkSeedFile(c.NKey); err != nil {
			return nil, fmt.Errorf("%s: %w", c.source("nkey"), err)
		}
		opt, err := nats.NkeyOptionFromSeed(c.NKey)
		if err != nil {
			return nil, fmt.Errorf("%s: NKey seed file %s: not usable", c.source("nkey"), c.NKey)
		}
		return []nats.Option{opt}, nil
	case c.Creds != "":
		if err := checkCredsFile(c.Creds, now); err != nil {
			return nil, fmt.Errorf("%s: %w", c.source("creds"), err)
		}
		return []nats.Option{nats.UserCredentials(c.Creds)}, nil
	}
	return nil, nil
}

// readSecretFile reads a file holding key material; the caller wipes it.
// The error names the path and the cause, never the contents.
func readSecretFile(what, path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s %s: cannot read it: %w", what, path, pe.Err)
		}
		return nil, fmt.Errorf("%s %s: cannot read it", what, path)
	}
	return data, nil
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 'x'
	}
}

// checkSeedFile checks that path holds an NKey user seed.
func checkSeedFile(path string) error {
	data, err := readSecretFile("NKey seed file", path)
	if err != nil {
		return err
	}
	defer wipe(data)
	kp, err := nkeys.ParseDecoratedUserNKey(data)
	if err != nil {
		return fmt.Errorf("NKey seed file %s holds no user seed (a line starting with SU)", path)
	}
	kp.Wipe()
	return nil
}

// checkCredsFile checks that path holds a user JWT that is valid at now and
// a user seed.
func checkCredsFile(path string, now time.Time) error {
	data, err := readSecretFile("credentials file", path)
	if err != nil {
		return err
	}
	defer wipe(data)
	token, err := nkeys.ParseDecoratedJWT(data)
	if err != nil || !strings.Contains(string(data), "BEGIN NATS USER JWT") {
		return fmt.Errorf("credentials file %s holds no user JWT (a -----BEGIN NATS USER JWT----- block)", path)
	}
	claims, err := jwt.DecodeUserClaims(token)
	if err != nil {
		return fmt.Errorf("credentials file %s: its user JWT cannot be decoded", path)
	}
	who := claims.Subject
	if claims.Name != "" {
		who = fmt.Sprintf("%q (%s)", claims.Name, claims.Subject)
	}
	if claims.Expires > 0 && now.Unix() > claims.Expires {
		return fmt.Errorf("credentials file %s: the user JWT of %s expired at %s; ask its account operator for new credentials",
			path, who, time.Unix(claims.Expires, 0).UTC().Format(time.RFC3339))
	}
	if claims.NotBefore > 0 && now.Unix() < claims.NotBefore {
		return fmt.Errorf("credentials file %s: the user JWT of %s is not valid before %s",
			path, who, time.Unix(claims.NotBefore, 0).UTC().Format(time.RFC3339))
	}
	kp, err := nkeys.ParseDecoratedUserNKey(data)
	if err != nil {
		return fmt.Errorf("credentials file %s holds no user seed (a -----BEGIN USER NKEY SEED----- block)", path)
	}
	kp.Wipe()
	return nil
}

// TLSConfig returns the client's TLS configuration: the CA file's
// authorities (the system's when none) and the client certificate, each file
// read and checked with an error naming it.
func (c *Client) TLSConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CA != "" {
		pem, err := os.ReadFile(c.CA)
		if err != nil {
			return nil, fmt.Errorf("%s: CA file: %w", c.source("ca"), err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: CA file %s holds no PEM certificate", c.source("ca"), c.CA)
		}
		cfg.RootCAs = roots
	}
	if c.Cert != "" {
		certPEM, err := os.ReadFile(c.Cert)
		if err != nil {
			return nil, fmt.Errorf("%s: client certificate: %w", c.source("cert"), err)
		}
		keyPEM, err := readSecretFile("client key", c.Key)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.source("key"), err)
		}
		defer wipe(keyPEM)
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			// crypto/tls's messages name the problem, not the key.
			return nil, fmt.Errorf("%s and %s: client certificate %s with key %s: %w", c.source("cert"), c.source("key"), c.Cert, c.Key, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// NATSOptions returns the nats.Connect options that authenticate and secure
// a connection to c.NATSURL, after checking every setting and file (see
// [Client.AuthOptions] and [Client.TLSConfig]). Errors name the flag,
// variable or key at fault and the file, never a secret.
func (c *Config) NATSOptions() ([]nats.Option, error) {
	if err := c.Client.Validate(c.NATSURL); err != nil {
		return nil, err
	}
	opts, err := c.Client.AuthOptions()
	if err != nil {
		return nil, err
	}
	tlsCfg, err := c.Client.TLSConfig()
	if err != nil {
		return nil, err
	}
	if c.Client.Secure() {
		opts = append(opts, nats.Secure(tlsCfg))
	} else {
		// Used when a URL says tls:// or the server requires TLS.
		opts = append(opts, func(o *nats.Options) error { o.TLSConfig = tlsCfg; return nil })
	}
	if c.Client.TLSFirst {
		opts = append(opts, nats.TLSHandshakeFirst())
	}
	if c.Client.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(c.Client.InboxPrefix))
	}
	return opts, nil
}
