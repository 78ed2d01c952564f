// Package jetpool is a job processor on NATS JetStream.
//
// Producers enqueue jobs (see package producer), worker pools in any number
// of processes run them through a [Handler] (see package consumer), and every
// batch can be reconciled: you learn when it is done and what became of each
// job. This package holds what both sides share: the [Job], the [Handler]
// interface, the outcome errors a handler returns, name validation and the
// [Names] of the subjects, streams and buckets jetpool uses.
package jetpool
