// Command dispatcher creates, inspects, waits for and administers the tasks
// of a taskfleet pool; `dispatcher run` is the main job (generate → create
// → run → wait → collect) and `dispatcher dev` runs a local event server
// and reaper for multi-process fleets. Run `dispatcher help` for the list.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := (&Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}).Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
