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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
