// Package producer enqueues jobs, one by one or as batches, reconciles
// batches (the join: when is a batch done, and what became of every job),
// and runs the periodic [Manager] that fills a queue every interval from a
// [Source].
package producer
