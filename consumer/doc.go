// Package consumer runs a worker pool: a fixed number of goroutines, in as
// many processes as you like, pulling jobs of one queue from a durable
// JetStream consumer and running a [jetpool.Handler] on each.
//
// A job that succeeds is acknowledged; one that fails is retried with
// exponential backoff and jitter until the pool's MaxAttempts, then moved to
// the dead-letter stream; a [jetpool.Permanent] error moves it there at once.
// While a handler runs, the pool tells JetStream the job is in progress, so a
// long job is not redelivered while a crashed worker's jobs come back within
// the consumer's AckWait.
package consumer
