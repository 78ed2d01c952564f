// Package broker runs an embedded nats-server with JetStream, standalone or
// as a cluster member, for tests, the demo and single-machine use. It
// provisions jetpool's topology on the server it starts through package
// [github.com/jetpool/jetpool/topology], which is also what a program uses to
// provision any other server or cluster without linking nats-server.
package broker
