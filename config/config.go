// Package config loads jetpool's YAML configuration file, overlays
// environment variables, and validates the result with errors that name the
// key and the bad value.
//
// A file looks like this (every key is optional):
//
//	nats_url: nats://127.0.0.1:4222
//	prefix: jetpool
//	replicas: 1
//	pools:
//	  resize:              # a queue name
//	    concurrency: 8     # jobs run at once per process
//	    timeout: 30s       # per-job timeout
//	    interval: 10s      # the producer's cycle (manager pools)
//	    max_attempts: 5
//	    backoff: {initial: 1s, max: 1m}
//	# how to authenticate and secure the connection (see Client):
//	nats_creds: /run/secrets/worker.creds   # or nats_user + nats_password, nats_token, nats_nkey
//	nats_ca: /etc/jetpool/ca.pem
//	nats_cert: /etc/jetpool/client.pem      # with nats_key, for mutual TLS
//	nats_key: /run/secrets/client-key.pem
//
// NATS_URL overrides nats_url, JETPOOL_PREFIX overrides prefix, and NATS_USER,
// NATS_PASSWORD, NATS_TOKEN, NATS_NKEY, NATS_CREDS, NATS_CERT, NATS_KEY, NATS_CA
// and NATS_INBOX_PREFIX override their nats_ keys.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"time"

	"github.com/jetpool/jetpool"
	"go.yaml.in/yaml/v3"
)

// DefaultNATSURL is used when neither the file nor NATS_URL names a server.
const DefaultNATSURL = "nats://127.0.0.1:4222"

// Config is the whole configuration.
type Config struct {
	NATSURL  string          `yaml:"nats_url"`
	Prefix   string          `yaml:"prefix"`
	Replicas int             `yaml:"replicas"`
	Pools    map[string]Pool `yaml:"pools"`
	// Client authenticates and secures the connection: nats_user,
	// nats_creds, nats_ca and the other nats_ keys.
	Client `yaml:",inline"`
}

// Pool configures the workers or the manager of one queue. Zero fields take
// the defaults of the consumer and producer packages.
type Pool struct {
	Concurrency int           `yaml:"concurrency"`
	Timeout     time.Duration `yaml:"timeout"`
	Interval    time.Duration `yaml:"interval"`
	MaxAttempts int           `yaml:"max_attempts"`
	Backoff     Backoff       `yaml:"backoff"`
}

// Backoff is the retry delay of a pool: the delay before retry n is drawn
// between half and all of min(Max, Initial * 2^(n-1)). Zero fields take the
// consumer's defaults.
type Backoff struct {
	Initial time.Duration `yaml:"initial"` // first delay
	Max     time.Duration `yaml:"max"`     // largest delay
}

// Load reads the file at path (none when path is empty), overlays the
// environment and validates.
func Load(path string) (*Config, error) { return LoadEnv(path, os.LookupEnv) }

// LoadEnv is Load with the environment read through lookup.
func LoadEnv(path string, lookup func(string) (string, bool)) (*Config, error) {
	cfg := &Config{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if cfg, err = Parse(data); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	cfg.overlayEnv(lookup)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Parse decodes YAML; unknown keys are errors. It does not validate. An
// error names the key by its dotted path (pools.resize.timeout) and its
// line, and an unknown key the nearest valid one.
func Parse(data []byte) (*Config, error) {
	cfg := &Config{}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if err := checkKeys(&doc, reflect.TypeFor[Config]()); err != nil {
		return nil, err
	}
	// The checks above report what the decoder would, by key; the decoder
	// still refuses unknown fields should the two ever disagree.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return cfg, nil
}

func (c *Config) overlayEnv(lookup func(string) (string, bool)) {
	if v, ok := lookup("NATS_URL"); ok && v != "" {
		c.NATSURL = v
	}
	if v, ok := lookup("JETPOOL_PREFIX"); ok && v != "" {
		c.Prefix = v
	}
	c.Client.overlayEnv(lookup)
	if c.NATSURL == "" {
		c.NATSURL = DefaultNATSURL
	}
	if c.Prefix == "" {
		c.Prefix = jetpool.DefaultPrefix
	}
}

// Validate checks every value and names the first bad key and value.
func (c *Config) Validate() error {
	if _, err := jetpool.NewNames(c.Prefix); err != nil {
		return fmt.Errorf("config: prefix: %w", err)
	}
	if c.Replicas < 0 || c.Replicas > 5 {
		return fmt.Errorf("config: replicas: %d is not between 1 and 5", c.Replicas)
	}
	if err := c.Client.Validate(c.NATSURL); err != nil {
		return err
	}
	queues := make([]string, 0, len(c.Pools))
	for q := range c.Pools {
		queues = append(queues, q)
	}
	sort.Strings(queues)
	for _, q := range queues {
		if err := jetpool.ValidateQueue(q); err != nil {
			return fmt.Errorf("config: pools: %w", err)
		}
		if err := c.Pools[q].validate("pools." + q); err != nil {
			return err
		}
	}
	return nil
}

func (p Pool) validate(key string) error {
	switch {
	case p.Concurrency < 0:
		return fmt.Errorf("config: %s.concurrency: %d must be at least 1", key, p.Concurrency)
	case p.Timeout < 0:
		return fmt.Errorf("config: %s.timeout: %s must not be negative", key, p.Timeout)
	case p.Interval < 0:
		return fmt.Errorf("config: %s.interval: %s must not be negative", key, p.Interval)
	case p.MaxAttempts < 0:
		return fmt.Errorf("config: %s.max_attempts: %d must be at least 1", key, p.MaxAttempts)
	case p.Backoff.Initial < 0:
		return fmt.Errorf("config: %s.backoff.initial: %s must not be negative", key, p.Backoff.Initial)
	case p.Backoff.Max != 0 && p.Backoff.Max < p.Backoff.Initial:
		return fmt.Errorf("config: %s.backoff.max: %s is less than backoff.initial %s", key, p.Backoff.Max, p.Backoff.Initial)
	}
	return nil
}

// Pool returns the settings of queue (zero when the file has none).
func (c *Config) Pool(queue string) Pool { return c.Pools[queue] }
