package natstest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool/broker"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is a three-node JetStream cluster of embedded servers on loopback,
// and a client connected to all of them.
type Cluster struct {
	Nodes []*Node
	Conn  *nats.Conn
	JS    jetstream.JetStream
	Log   *slog.Logger
}

// Node is one cluster member; Server is nil while it is stopped.
type Node struct {
	Name    string
	Server  *broker.Server
	Store   string
	Listen  string // client HOST:PORT
	Cluster string // route HOST:PORT
	Monitor string // monitoring (HTTP) HOST:PORT
	routes  []string
}

// MonitorURLs lists every member's monitoring endpoint.
func (c *Cluster) MonitorURLs() []string {
	urls := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		urls[i] = "http://" + n.Monitor
	}
	return urls
}

// StartCluster runs a three-node cluster and waits until JetStream has a
// meta leader. Everything stops at the test's end.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{Log: Logger(t, slog.LevelInfo)}
	ports := freePorts(t, 9)
	var routes []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[3+i]))
	}
	dir := t.TempDir()
	for i := range 3 {
		c.Nodes = append(c.Nodes, &Node{
			Name:    fmt.Sprintf("n%d", i+1),
			Store:   filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			Listen:  fmt.Sprintf("127.0.0.1:%d", ports[i]),
			Cluster: fmt.Sprintf("127.0.0.1:%d", ports[3+i]),
			Monitor: fmt.Sprintf("127.0.0.1:%d", ports[6+i]),
			routes:  routes,
		})
	}
	t.Cleanup(func() {
		for _, n := range c.Nodes {
			c.Stop(t, n)
		}
	})
	// Start the members together: each waits for a quorum of peers.
	errs := make(chan error, len(c.Nodes))
	for _, n := range c.Nodes {
		go func() { errs <- c.start(t, n) }()
	}
	for range c.Nodes {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	c.Conn, c.JS = Connect(t, c.URL())
	Eventually(t, 60*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := c.JS.AccountInfo(ctx)
		return err == nil && c.metaFormed()
	}, "the cluster elects a JetStream meta leader that knows every member")
	return c
}

// metaFormed reports whether a meta leader sees every member with
// JetStream and every member is current: before that, creating an R3
// stream can fail for want of peers.
func (c *Cluster) metaFormed() bool {
	leaders := 0
	for _, n := range c.Nodes {
		ns := n.Server.NATS()
		if !ns.JetStreamIsCurrent() {
			return false
		}
		if ns.JetStreamIsLeader() {
			leaders++
			if len(ns.JetStreamClusterPeers()) != len(c.Nodes) {
				return false
			}
		}
	}
	return leaders == 1
}

func (c *Cluster) start(t testing.TB, n *Node) error {
	srv, err := broker.Start(broker.Options{
		ServerName: n.Name, StoreDir: n.Store, Listen: n.Listen, HTTP: n.Monitor,
		ClusterName: "jetpool-test", ClusterListen: n.Cluster, Routes: n.routes,
		ReadyTimeout: 30 * time.Second, Logger: Logger(t, slog.LevelError),
	})
	if err != nil {
		return fmt.Errorf("start cluster node %s: %w", n.Name, err)
	}
	n.Server = srv
	return nil
}

// URL lists every member's client URL, for a client that fails over.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		urls[i] = "nats://" + n.Listen
	}
	return strings.Join(urls, ",")
}

// Node returns the member named name.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Stop shuts a member down, as a node lost to a crash or maintenance.
func (c *Cluster) Stop(t testing.TB, n *Node) {
	t.Helper()
	if n.Server == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Server.Shutdown(ctx); err != nil {
		t.Errorf("shut down %s: %v", n.Name, err)
	}
	n.Server = nil
}

// Restart starts a stopped member again on its store and ports.
func (c *Cluster) Restart(t testing.TB, n *Node) {
	t.Helper()
	if err := c.start(t, n); err != nil {
		t.Fatal(err)
	}
}

// StreamLeader names the member leading stream.
func (c *Cluster) StreamLeader(t testing.TB, stream string) *Node {
	t.Helper()
	var leader string
	Eventually(t, 60*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s, err := c.JS.Stream(ctx, stream)
		if err != nil || s.CachedInfo().Cluster == nil {
			return false
		}
		leader = s.CachedInfo().Cluster.Leader
		return leader != ""
	}, "stream %s has a leader", stream)
	return c.Node(leader)
}

// ConsumerLeader names the member leading a stream's consumer.
func (c *Cluster) ConsumerLeader(t testing.TB, stream, consumer string) *Node {
	t.Helper()
	var leader string
	Eventually(t, 60*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		cons, err := c.JS.Consumer(ctx, stream, consumer)
		if err != nil || cons.CachedInfo().Cluster == nil {
			return false
		}
		leader = cons.CachedInfo().Cluster.Leader
		return leader != ""
	}, "consumer %s has a leader", consumer)
	return c.Node(leader)
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}
