// Package broker runs an embedded nats-server with JetStream, standalone or
// as a cluster member, for tests, the demo and single-machine use, and
// provisions jetpool's streams, consumers and buckets on any server or
// cluster.
package broker
