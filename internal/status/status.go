// Package status collects what `jetpool status` and the dashboard show: the
// queues, the live workers, the recent batches and the cluster.
package status

import (
	"github.com/jetpool/jetpool/batch"
	"github.com/jetpool/jetpool/registry"
)

// QueueStatus is one queue's line in `jetpool status`.
type QueueStatus struct {
	Queue   string `json:"queue"`
	Pending uint64 `json:"pending"` // waiting for a worker
	// InFlight are jobs delivered and not yet acknowledged that a live
	// worker holds; Redelivery are the other delivered, unacknowledged
	// ones: returned by a stopping worker, waiting out a retry delay, or
	// held by a worker that died, until AckWait. They add up to what the
	// server counts unacknowledged.
	InFlight   int `json:"in_flight"`
	Redelivery int `json:"awaiting_redelivery"`
	Running    int `json:"running"` // handlers running now, per the worker registry
	Dead       int `json:"dead"`
	// Processes and Slots are the live worker processes of the queue and
	// the jobs they can run at once, from the worker registry.
	Processes int `json:"processes"`
	Slots     int `json:"slots"`
	// PerMinute is the jobs the queue's live workers completed per minute
	// over the last minute, from the worker registry.
	PerMinute float64 `json:"per_minute"`
	Consumer  bool    `json:"consumer"` // false: jobs wait for a queue nobody provisioned
}

// StreamStatus is where a stream of jetpool's lives in the cluster.
type StreamStatus struct {
	Stream   string          `json:"stream"`
	Messages uint64          `json:"messages"`
	Leader   string          `json:"leader,omitempty"`
	Replicas []ReplicaStatus `json:"replicas,omitempty"`
}

// ReplicaStatus is one follower of a stream.
type ReplicaStatus struct {
	Name    string `json:"name"`
	Current bool   `json:"current"`
	Lag     uint64 `json:"lag"`
	Offline bool   `json:"offline,omitempty"`
}

// ConsumerStatus is where a queue's consumer lives in the cluster.
type ConsumerStatus struct {
	Queue    string          `json:"queue"`
	Leader   string          `json:"leader,omitempty"`
	Replicas []ReplicaStatus `json:"replicas,omitempty"`
}

// ClusterStatus is the cluster section of `jetpool status`.
type ClusterStatus struct {
	Name    string   `json:"name,omitempty"`
	Server  string   `json:"server"` // the server this client is connected to
	Servers []string `json:"servers"`
	// Meta is the JetStream meta group, read with --monitor; MetaError
	// says why it is missing.
	Meta      *MetaStatus      `json:"meta,omitempty"`
	MetaError string           `json:"meta_error,omitempty"`
	Streams   []StreamStatus   `json:"streams"`
	Consumers []ConsumerStatus `json:"consumers"`
}

// Status is the output of `jetpool status --json`.
type Status struct {
	Queues  []QueueStatus     `json:"queues"`
	Workers []registry.Worker `json:"workers"`
	Batches []*batch.Report   `json:"batches"`
	Cluster ClusterStatus     `json:"cluster"`
}

// RecentBatches is the number of batches Collect reconciles.
const RecentBatches = 10
