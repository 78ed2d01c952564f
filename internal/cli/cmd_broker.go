package cli

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jetpool/jetpool/broker"
	"github.com/jetpool/jetpool/config"
	"github.com/jetpool/jetpool/topology"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

// brokerCmd is `jetpool broker`.
type brokerCmd struct {
	a           *app
	o           broker.Options
	replicas    int
	noProvision bool
	metricsAddr string
}

func (a *app) brokerCommand() *cobra.Command {
	c := &brokerCmd{a: a}
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run an embedded NATS server with JetStream and provision the topology",
		Long: `Run an embedded NATS server with JetStream and provision the topology.

While it runs, the broker holds an exclusive lock on its store directory
(the file ` + broker.LockFile + ` in it, which holds the broker's process ID): a
second broker on the same --store exits at once, naming the directory,
instead of corrupting the store. A busy --listen, --cluster-listen or
--monitor-listen address and an unusable store also fail at once, naming the cause.
SIGINT or SIGTERM stops the broker, during start-up too.

Security: --server-config FILE reads a nats-server configuration file
(https://docs.nats.io/running-a-nats-service/configuration) for users and
their permissions (authorization { users = [...] }, nkeys, accounts with
"jetstream: enabled"), TLS for clients (tls { cert_file, key_file, ca_file,
verify }) and for routes (cluster { tls {...}, authorization {...} }),
limits and the rest. The broker's flags win over the file: --listen and
--store always (the file's listen, port and store_dir are replaced, with a
warning), --monitor-listen, --server-name and the cluster flags when given.
deploy/security/ holds ready least-privilege permission sets for producers,
workers and admins; docs/security.md explains them.

With users in the file, the broker provisions as a client: give it an admin
user's credentials with the global flags (--creds, --nkey, --user and
--password, --token) or their NATS_* variables, or start it with
--no-provision and run "jetpool provision" as an admin. It connects in
process, so it needs no TLS flags.

  jetpool broker --store /data --listen 0.0.0.0:4222 \
      --server-config /etc/jetpool/server.conf --nkey /run/secrets/admin.nk`,
		Args: cobra.NoArgs,
		RunE: c.run,
	}
	f := cmd.Flags()
	f.StringVar(&c.o.Listen, "listen", "127.0.0.1:4222", "client address HOST:PORT (port -1: random)")
	f.StringVar(&c.o.StoreDir, "store", "", "JetStream store directory, locked while the broker runs (required)")
	f.StringVar(&c.o.HTTP, "monitor-listen", "", "serve nats-server's monitoring endpoints (/healthz, /varz, ...) on HOST:PORT, which status --monitor reads")
	oldSpelling(f, "http", "monitor-listen")
	f.StringVar(&c.o.ConfigFile, "server-config", "", "nats-server configuration FILE: users, permissions, accounts, TLS (see above)")
	f.StringVar(&c.o.ServerName, "server-name", "", "server name (default in a cluster: HOST-CLUSTERPORT)")
	f.StringVar(&c.o.ClusterName, "cluster-name", "", "cluster name")
	f.StringVar(&c.o.ClusterListen, "cluster-listen", "", "cluster address HOST:PORT")
	f.StringSliceVar(&c.o.Routes, "routes", nil, "cluster routes, nats://host:port,...")
	f.IntVar(&c.replicas, "replicas", 1, "stream replicas when provisioning")
	f.BoolVar(&c.noProvision, "no-provision", false, "do not create the streams and buckets")
	f.StringVar(&c.metricsAddr, "metrics", "", "serve queue depth metrics, /healthz and /readyz on HOST:PORT")
	if err := cmd.MarkFlagRequired("store"); err != nil {
		panic(err) // only a flag that does not exist fails
	}
	return cmd
}

func (c *brokerCmd) run(cmd *cobra.Command, _ []string) error {
	a, o := c.a, c.o
	a.warnOldSpellings(cmd)
	cfg, names, err := a.loadConfig()
	if err != nil {
		return err
	}
	// Check the admin's credentials before the server starts.
	if _, err := a.brokerClientOptions(cfg); err != nil {
		return err
	}
	o.Logger = a.log
	srv, err := broker.StartContext(cmd.Context(), o)
	if err != nil {
		return err
	}
	defer func() {
		a.stopBroker(srv)
		a.log.Info("broker stopped")
	}()
	if !c.noProvision {
		if err := a.provisionBroker(cmd.Context(), srv, cfg, topology.Options{Names: names, Replicas: c.replicas}); err != nil {
			return err
		}
	}
	if c.metricsAddr != "" {
		nc, err := a.brokerClient(srv, cfg, nats.MaxReconnects(-1))
		if err != nil {
			return err
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		obs, err := a.observe(cmd.Context(), c.metricsAddr, nc, js, names)
		if err != nil {
			return err
		}
		defer obs.close()
	}
	a.printURL(srv.ClientURL())
	a.log.Info("broker ready", "url", srv.ClientURL(), "store", o.StoreDir)
	<-cmd.Context().Done()
	return nil
}

// stopBroker shuts srv down, within 30 seconds, and logs a failure.
func (a *app) stopBroker(srv *broker.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		a.log.Error("broker shutdown", "error", err)
	}
}

// brokerClientOptions are the options of the broker's own clients: the
// command's credentials and inbox prefix. They connect in process, where
// nats-server needs no TLS.
func (a *app) brokerClientOptions(cfg *config.Config) ([]nats.Option, error) {
	if err := cfg.Client.Validate(""); err != nil {
		return nil, exitWith(ExitUsage, err)
	}
	opts, err := cfg.Client.AuthOptions()
	if err != nil {
		return nil, exitWith(ExitUsage, err)
	}
	if cfg.Client.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(cfg.Client.InboxPrefix))
	}
	return append(opts, nats.Name("jetpool-broker")), nil
}

// brokerClient connects to srv in process with the command's credentials.
func (a *app) brokerClient(srv *broker.Server, cfg *config.Config, extra ...nats.Option) (*nats.Conn, error) {
	opts, err := a.brokerClientOptions(cfg)
	if err != nil {
		return nil, err
	}
	const hint = "give an admin user's with --creds, --nkey, --user and --password or --token (or their NATS_* variables), or start the broker with --no-provision"
	if v, err := srv.NATS().Varz(nil); err == nil && v.AuthRequired && len(cfg.Client.AuthMethods()) == 0 {
		return nil, exitWith(ExitUsage, errors.New("the broker's server config requires credentials, and the broker's own client has none: "+hint))
	}
	// The URL only names the server: the connection is in process, and a
	// tls:// scheme would make nats.go ask for TLS there too.
	url := strings.Replace(srv.ClientURL(), "tls://", "nats://", 1)
	opts = append(opts, nats.InProcessServer(srv.NATS()), a.natsErrorHandler())
	nc, err := nats.Connect(url, append(opts, extra...)...)
	if err != nil {
		// A refused in-process client may see a closed pipe rather than
		// the authorization error.
		return nil, exitWith(ExitUsage, fmt.Errorf("the broker's own client could not connect with the credentials given (%s): %w", hint, err))
	}
	return nc, nil
}

// provisionBroker creates on srv whatever of the topology is missing and
// leaves what exists as it is: a restarted broker must not undo what
// `jetpool provision` set (an AckWait, limits). In a cluster the first
// attempts may fail until a meta leader is elected, so it retries for a
// while.
func (a *app) provisionBroker(ctx context.Context, srv *broker.Server, cfg *config.Config, o topology.Options) error {
	nc, err := a.brokerClient(srv, cfg)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = topology.CreateMissing(pctx, js, o)
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// provisionCmd is `jetpool provision`.
type provisionCmd struct {
	a          *app
	out        output
	o          topology.Options
	replicas   int
	maxMsgSize int64
}

func (a *app) provisionCommand() *cobra.Command {
	c := &provisionCmd{a: a, out: a.out()}
	cmd := &cobra.Command{
		Use:   "provision [QUEUE...]",
		Short: "Create or update the streams, buckets and queue consumers, idempotently",
		Long: `Create or update the streams, buckets and queue consumers, idempotently.

Existing streams and consumers are updated to the flags: a queue's consumer
gets the --ack-wait given (30s when not), and --max-ack-pending when given
(left as it is when not, so what a worker pool raised stays). A setting
JetStream cannot change on an existing consumer or stream is an error that
names it.`,
		RunE: c.run,
	}
	f := cmd.Flags()
	f.IntVar(&c.replicas, "replicas", 0, "stream replicas (default: config, then 1)")
	f.DurationVar(&c.o.AckWait, "ack-wait", 0, "redelivery delay of an unacknowledged job (default 30s)")
	f.IntVar(&c.o.MaxAckPending, "max-ack-pending", 0, "unacknowledged jobs a queue's consumer allows at once (default 10000, never lowered when not given)")
	f.Var(byteSizeFlag{n: &c.maxMsgSize, max: math.MaxInt32}, "max-msg-size", "largest job message: bytes, or with a unit KiB, MiB or GiB (default "+formatByteSize(topology.DefaultMaxMsgSize)+")")
	f.Int64Var(&c.o.MaxMsgs, "max-msgs", 0, "work stream message limit (default none)")
	f.DurationVar(&c.o.Duplicates, "dedup-window", 0, "deduplication window (default 2m)")
	c.out.jsonFlag(f, "print what was provisioned as one JSON object")
	return cmd
}

func (c *provisionCmd) run(cmd *cobra.Command, queues []string) error {
	s, err := c.a.connect(cmd.Context(), false)
	if err != nil {
		return err
	}
	defer s.close()
	replicas := c.replicas
	if replicas == 0 {
		replicas = s.cfg.Replicas
	}
	o := c.o
	o.Names, o.Replicas, o.MaxMsgSize = s.names, replicas, int32(c.maxMsgSize)
	ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
	defer cancel()
	if err := topology.Provision(ctx, s.js, o, queues...); err != nil {
		return err
	}
	return c.out.printLine(struct {
		WorkStream string   `json:"work_stream"`
		DeadStream string   `json:"dead_stream"`
		Replicas   int      `json:"replicas"`
		Queues     []string `json:"queues"`
	}{s.names.WorkStream(), s.names.DeadStream(), max(replicas, 1), append([]string{}, queues...)},
		fmt.Sprintf("provisioned %s and %s (replicas %d)", s.names.WorkStream(), s.names.DeadStream(), max(replicas, 1)))
}
