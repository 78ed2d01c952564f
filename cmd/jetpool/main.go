// Command jetpool runs jetpool's broker, worker pools and producers, and
// inspects queues, batches and dead letters. Run `jetpool --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/jetpool/jetpool/internal/cli"
)

func main() {
	// The first SIGINT or SIGTERM cancels the command's context: it stops
	// gracefully. A second one asks it to stop at once.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	again := make(chan struct{})
	go func() {
		<-sigs
		cancel()
		<-sigs
		close(again)
	}()
	code := cli.Main(cli.WithInterruptAgain(ctx, again), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	signal.Stop(sigs)
	cancel()
	os.Exit(code)
}
