package status

import (
	"context"
	"errors"
	"fmt"
	"github.com/jetpool/jetpool/batch"
	"github.com/jetpool/jetpool/internal/queuedepth"
	"sort"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/registry"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Collect gathers `jetpool status`: every queue that has jobs, a
// consumer or dead letters; the live workers; the recent batches; and where
// jetpool's streams live in the cluster.
// monitors are servers' monitoring URLs, from which the meta leader is read.
func Collect(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, names jetpool.Names, monitors []string) (*Status, error) {
	work, err := js.Stream(ctx, names.WorkStream())
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w (run jetpool provision?)", names.WorkStream(), err)
	}
	queued, err := queuedepth.Count(ctx, js, names.WorkStream(), names.JobsWildcard(), names)
	if err != nil {
		return nil, err
	}
	dead, err := queuedepth.Count(ctx, js, names.DeadStream(), names.DeadWildcard(), names)
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, err
	}
	workers, err := registry.List(ctx, js, names)
	if err != nil {
		return nil, err
	}
	st := &Status{Queues: []QueueStatus{}, Workers: workers, Batches: []*batch.Report{}}

	byQueue := map[string]*QueueStatus{}
	queue := func(q string) *QueueStatus {
		if byQueue[q] == nil {
			byQueue[q] = &QueueStatus{Queue: q}
		}
		return byQueue[q]
	}
	consumers := []ConsumerStatus{}
	pulling := map[string]bool{}
	lister := work.ListConsumers(ctx)
	for ci := range lister.Info() {
		q := queue(ci.Name)
		q.Consumer = true
		q.Pending, q.InFlight = ci.NumPending, ci.NumAckPending
		pulling[ci.Name] = ci.NumWaiting > 0
		consumers = append(consumers, consumerStatus(ci))
	}
	if err := lister.Err(); err != nil {
		return nil, err
	}
	for name, n := range queued {
		if q := queue(name); !q.Consumer {
			q.Pending = uint64(n) // nobody consumes them: all are waiting
		}
	}
	for name, n := range dead {
		queue(name).Dead = n
	}
	held, counted := map[string]int{}, map[string]int{}
	for _, w := range workers {
		q := queue(w.Queue)
		q.Processes++
		q.Slots += w.Concurrency
		q.Running += w.Running
		q.PerMinute += w.PerMinute
		if w.Held != nil {
			held[w.Queue] += *w.Held
			counted[w.Queue]++
		}
	}
	for name, q := range byQueue {
		if !q.Consumer {
			continue
		}
		// What live workers hold is in flight; the rest of the delivered,
		// unacknowledged jobs wait to be delivered again. That is known
		// when every live worker counts what it holds, or when none is
		// there at all (nothing announces and nothing pulls: a pool that
		// does not announce itself would be pulling).
		switch {
		case q.Processes > 0 && counted[name] == q.Processes:
			q.Redelivery = max(0, q.InFlight-held[name])
			q.InFlight -= q.Redelivery
		case q.Processes == 0 && !pulling[name]:
			q.Redelivery, q.InFlight = q.InFlight, 0
		}
	}
	for _, q := range byQueue {
		if q.Consumer {
			// Workers announce every 2 s; a running job is always one the
			// server counts in flight, so a count announced before jobs
			// finished never shows more than that.
			q.Running = min(q.Running, q.InFlight)
		}
		st.Queues = append(st.Queues, *q)
	}
	sort.Slice(st.Queues, func(i, j int) bool { return st.Queues[i].Queue < st.Queues[j].Queue })

	if st.Batches, err = RecentReports(ctx, js, names, RecentBatches); err != nil {
		return nil, err
	}
	st.Cluster = clusterStatus(ctx, nc, js, names)
	sort.Slice(consumers, func(i, j int) bool { return consumers[i].Queue < consumers[j].Queue })
	st.Cluster.Consumers = consumers
	if len(monitors) == 0 {
		st.Cluster.MetaError = "give --monitor http://HOST:8222 (a server's monitoring port) to read it"
	} else if st.Cluster.Meta, err = metaStatus(ctx, monitors); err != nil {
		st.Cluster.MetaError = err.Error()
	}
	return st, nil
}

func consumerStatus(ci *jetstream.ConsumerInfo) ConsumerStatus {
	cs := ConsumerStatus{Queue: ci.Name}
	if ci.Cluster != nil {
		cs.Leader = ci.Cluster.Leader
		cs.Replicas = peerStatus(ci.Cluster.Replicas)
	}
	return cs
}

// RecentReports reconciles the n most recently written batches. It reads
// the batch bucket's stream backwards from its last message, so its cost
// does not grow with the number of batches kept.
func RecentReports(ctx context.Context, js jetstream.JetStream, names jetpool.Names, n int) ([]*batch.Report, error) {
	page, err := Batches(ctx, js, names, 0, n)
	if err != nil {
		return nil, err
	}
	return page.Reports, nil
}

// BatchPage is a page of batch reports, most recently written first.
type BatchPage struct {
	Reports []*batch.Report `json:"reports"`
	// Total counts the batch bucket's messages: about the batches kept.
	Total uint64 `json:"total"`
	// Next is the before of the following page; 0 when this is the last.
	Next uint64 `json:"next"`
}

// Batches reconciles at most n batches written before the batch bucket's
// stream sequence before (0: from the newest), newest first.
func Batches(ctx context.Context, js jetstream.JetStream, names jetpool.Names, before uint64, n int) (*BatchPage, error) {
	page := &BatchPage{Reports: []*batch.Report{}}
	s, err := js.Stream(ctx, "KV_"+names.BatchBucket())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return page, nil
	}
	if err != nil {
		return nil, err
	}
	batches, err := batch.New(js, batch.Options{Names: names})
	if err != nil {
		return nil, err
	}
	info := s.CachedInfo()
	page.Total = info.State.Msgs
	seen := map[string]bool{}
	prefix := "$KV." + names.BatchBucket() + "."
	seq := info.State.LastSeq
	if before > 0 {
		seq = min(seq, before-1)
	}
	for ; seq >= info.State.FirstSeq && seq > 0 && len(page.Reports) < n; seq-- {
		msg, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // superseded by a later revision, or deleted
		}
		if err != nil {
			return nil, err
		}
		id := msg.Subject[len(prefix):]
		if seen[id] || msg.Header.Get("KV-Operation") != "" {
			continue
		}
		seen[id] = true
		if r, err := batches.Reconcile(ctx, id); err == nil {
			page.Reports = append(page.Reports, r)
		}
	}
	if len(page.Reports) == n && seq >= info.State.FirstSeq && seq > 0 {
		page.Next = seq + 1
	}
	return page, nil
}

// clusterStatus says which servers the client knows and where jetpool's
// streams have their leaders and replicas. It reports what it can read.
func clusterStatus(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, names jetpool.Names) ClusterStatus {
	c := ClusterStatus{Name: nc.ConnectedClusterName(), Server: nc.ConnectedServerName(), Servers: nc.Servers(), Consumers: []ConsumerStatus{}}
	for _, name := range []string{names.WorkStream(), names.DeadStream(), "KV_" + names.BatchBucket()} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			continue
		}
		info := s.CachedInfo()
		ss := StreamStatus{Stream: name, Messages: info.State.Msgs}
		if info.Cluster != nil {
			ss.Leader = info.Cluster.Leader
			ss.Replicas = peerStatus(info.Cluster.Replicas)
		}
		c.Streams = append(c.Streams, ss)
	}
	return c
}

// peerStatus describes the followers of a stream or consumer.
func peerStatus(peers []*jetstream.PeerInfo) []ReplicaStatus {
	var out []ReplicaStatus
	for _, r := range peers {
		out = append(out, ReplicaStatus{Name: r.Name, Current: r.Current, Lag: r.Lag, Offline: r.Offline})
	}
	return out
}
