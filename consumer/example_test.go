package consumer_test

import (
	"context"
	"fmt"
	"github.com/jetpool/jetpool/topology"
	"log"
	"log/slog"
	"os"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/broker"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/producer"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A worker pool with a two-stage pipeline: "resize" forwards each job's
// output to "publish".
func ExamplePool() {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	dir, _ := os.MkdirTemp("", "jetpool-example")
	defer os.RemoveAll(dir)
	srv, err := broker.Start(broker.Options{StoreDir: dir, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(ctx)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	// Create the streams and the queues' consumers, as `jetpool provision
	// resize publish` would; pools wait for them otherwise.
	if err := topology.Provision(ctx, js, topology.Options{}, "resize", "publish"); err != nil {
		log.Fatal(err)
	}

	resize, _ := consumer.New(js, consumer.Options{Queue: "resize", Concurrency: 2, Logger: quiet, Handler: jetpool.HandlerFunc(func(ctx context.Context, job *jetpool.Job) error {
		_, err := job.Forward(ctx, "publish", append(job.Payload, "@2x"...), nil)
		return err // nil acks the job; an error retries it with backoff
	})})
	published := make(chan string, 1)
	publish, _ := consumer.New(js, consumer.Options{Queue: "publish", Logger: quiet, Handler: jetpool.HandlerFunc(func(ctx context.Context, job *jetpool.Job) error {
		published <- string(job.Payload)
		return nil
	})})
	for _, p := range []*consumer.Pool{resize, publish} {
		if err := p.Start(ctx); err != nil {
			log.Fatal(err)
		}
		defer p.Stop(ctx)
	}

	p, _ := producer.New(js, producer.Options{Logger: quiet})
	if _, err := p.Enqueue(ctx, "resize", []byte("cat.png"), producer.WithID("img-1")); err != nil {
		log.Fatal(err)
	}
	fmt.Println("published", <-published)
	// Output: published cat.png@2x
}
