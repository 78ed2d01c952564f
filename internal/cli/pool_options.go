package cli

import (
	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/config"
	"github.com/jetpool/jetpool/consumer"
)

// consumerConfig returns the worker pool configuration of queue from the
// config file: the installation's names and the file's concurrency, timeout,
// attempts and backoff for the queue, zero (the consumer's defaults) where
// the file sets none. The caller sets the Logger and the rest on the result.
func consumerConfig(c *config.Config, queue string) consumer.Options {
	names, err := jetpool.NewNames(c.Prefix)
	if err != nil {
		names = jetpool.DefaultNames() // config.Validate refuses such a prefix
	}
	p := c.Pool(queue)
	return consumer.Options{Queue: queue, Names: names, Concurrency: p.Concurrency, Timeout: p.Timeout,
		MaxAttempts: p.MaxAttempts, Backoff: consumer.Backoff{Initial: p.Backoff.Initial, Max: p.Backoff.Max}}
}
