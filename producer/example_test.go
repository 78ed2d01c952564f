package producer_test

import (
	"context"
	"fmt"
	"github.com/jetpool/jetpool/topology"
	"log"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jetpool/jetpool"
	"github.com/jetpool/jetpool/broker"
	"github.com/jetpool/jetpool/consumer"
	"github.com/jetpool/jetpool/producer"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Enqueue a batch, process it with a worker pool, and wait for it: the
// whole round trip on an embedded server.
func Example() {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)

	// A broker for the example; in production, connect to your NATS cluster.
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
	// Create the streams and buckets, as `jetpool provision greet` would;
	// workers and producers wait for them otherwise.
	if err := topology.Provision(ctx, js, topology.Options{}, "greet"); err != nil {
		log.Fatal(err)
	}

	// Workers: usually another process.
	pool, err := consumer.New(js, consumer.Options{Queue: "greet", Concurrency: 4, Logger: quiet, Handler: jetpool.HandlerFunc(func(ctx context.Context, job *jetpool.Job) error {
		_ = strings.ToUpper(string(job.Payload)) // the work
		return nil
	})})
	if err != nil {
		log.Fatal(err)
	}
	if err := pool.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer pool.Stop(ctx)

	// Producer: enqueue a batch and wait for it (the join).
	p, _ := producer.New(js, producer.Options{Logger: quiet})
	defer p.Close()
	batch, err := p.EnqueueBatch(ctx, "greet", []producer.Item{
		{ID: "ann", Payload: []byte("hello ann")},
		{ID: "bob", Payload: []byte("hello bob")},
		{ID: "cy", Payload: []byte("hello cy")},
	})
	if err != nil {
		log.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	report, err := batch.Wait(wctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("done=%v expected=%d completed=%d dead=%d\n", report.Done, report.Expected, report.Completed, report.Dead)
	// Output: done=true expected=3 completed=3 dead=0
}
