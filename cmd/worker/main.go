// Command worker runs tasks of a taskfleet pool: Qlib's run_task as a
// long-lived process with a bounded goroutine pool, leases, heartbeats,
// retries, a reaper and Prometheus metrics. Run `worker --help` for flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := (&Main{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}).Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
