package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/jetpool/jetpool/broker"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

func (a *app) brokerCommand() *cobra.Command {
	var o broker.Options
	var replicas int
	var noProvision bool
	var metricsAddr string
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run an embedded NATS server with JetStream and provision the topology",
		Long: `Run an embedded NATS server with JetStream and provision the topology.

While it runs, the broker holds an exclusive lock on its store directory
(the file ` + broker.LockFile + ` in it, which holds the broker's process ID): a
second broker on the same --store exits at once, naming the directory,
instead of corrupting the store. A busy --listen, --cluster-listen or
--http address and an unusable store also fail at once, naming the cause.
SIGINT or SIGTERM stops the broker, during start-up too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, names, err := a.loadConfig()
			if err != nil {
				return err
			}
			o.Logger = a.log
			srv, err := broker.StartContext(cmd.Context(), o)
			if err != nil {
				return err
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := srv.Shutdown(ctx); err != nil {
					a.log.Error("broker shutdown", "error", err)
				}
				a.log.Info("broker stopped")
			}()
			if !noProvision {
				if err := provisionAt(cmd.Context(), srv.ClientURL(), broker.ProvisionOptions{Names: names, Replicas: replicas}); err != nil {
					return err
				}
			}
			if metricsAddr != "" {
				nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1))
				if err != nil {
					return err
				}
				defer nc.Close()
				js, err := jetstream.New(nc)
				if err != nil {
					return err
				}
				obs, err := a.observe(cmd.Context(), metricsAddr, nc, js, names)
				if err != nil {
					return err
				}
				defer obs.close()
			}
			fmt.Fprintln(a.stdout, srv.ClientURL())
			a.log.Info("broker ready", "url", srv.ClientURL(), "store", o.StoreDir)
			<-cmd.Context().Done()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", "127.0.0.1:4222", "client address HOST:PORT (port -1: random)")
	f.StringVar(&o.StoreDir, "store", "", "JetStream store directory, locked while the broker runs (required)")
	f.StringVar(&o.HTTP, "http", "", "monitoring address HOST:PORT")
	f.StringVar(&o.ServerName, "server-name", "", "server name (default in a cluster: HOST-CLUSTERPORT)")
	f.StringVar(&o.ClusterName, "cluster-name", "", "cluster name")
	f.StringVar(&o.ClusterListen, "cluster-listen", "", "cluster address HOST:PORT")
	f.StringSliceVar(&o.Routes, "routes", nil, "cluster routes, nats://host:port,...")
	f.IntVar(&replicas, "replicas", 1, "stream replicas when provisioning")
	f.BoolVar(&noProvision, "no-provision", false, "do not create the streams and buckets")
	f.StringVar(&metricsAddr, "metrics", "", "serve queue depth metrics, /healthz and /readyz on HOST:PORT")
	_ = cmd.MarkFlagRequired("store")
	return cmd
}

// provisionAt connects to url and provisions the topology there. In a
// cluster the first attempts may fail until a meta leader is elected, so it
// retries for a while.
func provisionAt(ctx context.Context, url string, o broker.ProvisionOptions) error {
	nc, err := nats.Connect(url)
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
		err = broker.Provision(pctx, js, o)
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

func (a *app) provisionCommand() *cobra.Command {
	var replicas int
	var o broker.ProvisionOptions
	cmd := &cobra.Command{
		Use:   "provision [QUEUE...]",
		Short: "Create or update the streams, buckets and queue consumers, idempotently",
		RunE: func(cmd *cobra.Command, queues []string) error {
			s, err := a.connect(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer s.close()
			if replicas == 0 {
				replicas = s.cfg.Replicas
			}
			o.Names, o.Replicas = s.names, replicas
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			if err := broker.Provision(ctx, s.js, o, queues...); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "provisioned %s and %s (replicas %d)\n", s.names.WorkStream(), s.names.DeadStream(), max(replicas, 1))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&replicas, "replicas", 0, "stream replicas (default: config, then 1)")
	f.DurationVar(&o.AckWait, "ack-wait", 0, "redelivery delay of an unacknowledged job (default 30s)")
	f.Int32Var(&o.MaxMsgSize, "max-msg-size", 0, "largest job message in bytes (default 1MiB)")
	f.Int64Var(&o.MaxMsgs, "max-msgs", 0, "work stream message limit (default none)")
	f.DurationVar(&o.Duplicates, "dedup-window", 0, "deduplication window (default 2m)")
	return cmd
}
