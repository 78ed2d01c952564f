// Package consumer runs a worker pool: a fixed number of goroutines, in as
// many processes as you like, pulling jobs of one queue from a durable
// JetStream consumer and running a [jetpool.Handler] on each.
//
// A job that succeeds is acknowledged; one that fails is retried with
// exponential backoff and jitter until the pool's MaxAttempts, then moved to
// the dead-letter stream; a [jetpool.Permanent] error moves it there at once.
//
// A pool holds at most Concurrency+Prefetch unacknowledged jobs: the running
// ones and those pulled ahead for the workers. It tells JetStream that every
// job it holds, waiting or running, is in progress, so no job is redelivered
// while its pool lives, however long it waits or runs, while a crashed
// worker's jobs come back within the consumer's AckWait. Stopping returns the
// jobs not started to the queue at once.
package consumer
