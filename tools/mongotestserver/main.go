package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/taskfleet/taskfleet/tools/mongotestserver/serialproxy"
)

const shutdownTimeout = 15 * time.Second

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("mongotestserver", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "TCP `address` to listen on; port 0 picks a free port")
	proxyListen := fs.String("proxy-listen", "127.0.0.1:0", "TCP `address` of the serialising proxy; port 0 picks a free port")
	dir := fs.String("dir", "", "SQLite data `directory` (default: a new temporary directory, removed on exit)")
	uriFile := fs.String("uri-file", "", "write the URI to this `file` once the server answers (atomic write, removed on exit)")
	logLevel := fs.String("log-level", "error", "log `level` on stderr: debug, info, warn (also dumps every failed command reply) or error")
	exitWithParent := fs.Bool("exit-with-parent", false, "shut down when the parent process exits")
	readyTimeout := fs.Duration("ready-timeout", 30*time.Second, "how long to wait for the server to answer its first ping")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "mongotestserver: unexpected arguments: %q\n", fs.Args())
		return 2
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "mongotestserver: -log-level: %v\n", err)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)

	// The embedded FerretDB never runs its telemetry reporter; make the
	// intent explicit for anything that consults the documented switches.
	_ = os.Setenv("FERRETDB_TELEMETRY", "disable")
	_ = os.Setenv("DO_NOT_TRACK", "1")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv, err := startServer(ctx, serverConfig{
		Listen:       *listen,
		Dir:          *dir,
		Logger:       logger.With("component", "ferretdb"),
		ReadyTimeout: *readyTimeout,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "mongotestserver: %v\n", err)
		return 1
	}

	// The serialising proxy: the same server, one command at a time.
	proxy, err := serialproxy.Start(serialproxy.Config{
		Listen:  *proxyListen,
		Backend: srv.Addr(),
		Logger:  logger.With("component", "serialproxy"),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "mongotestserver: %v\n", err)
		_ = srv.Stop(shutdownTimeout)
		return 1
	}
	uris := srv.URI() + "\n" + "mongodb://" + proxy.Addr() + "/\n"

	if *uriFile != "" {
		if err := writeFileAtomic(*uriFile, uris); err != nil {
			fmt.Fprintf(os.Stderr, "mongotestserver: -uri-file: %v\n", err)
			_ = proxy.Close()
			_ = srv.Stop(shutdownTimeout)
			return 1
		}
		defer os.Remove(*uriFile)
	}
	fmt.Print(uris)

	exitCode := 0

	var parentGone <-chan struct{}
	if *exitWithParent {
		parentGone = watchParent(os.Getppid())
	}

	select {
	case <-ctx.Done():
		stop() // a second signal terminates immediately
	case <-parentGone:
		logger.Warn("parent process exited; shutting down")
	case err := <-srv.Done():
		fmt.Fprintf(os.Stderr, "mongotestserver: server stopped unexpectedly: %v\n", err)
		exitCode = 1
	}

	_ = proxy.Close()
	if err := srv.Stop(shutdownTimeout); err != nil {
		fmt.Fprintf(os.Stderr, "mongotestserver: shutdown: %v\n", err)
		exitCode = 1
	}
	return exitCode
}

// writeFileAtomic writes data to a temporary file next to path and renames it
// over path, so a reader polling for path never sees partial content.
func writeFileAtomic(path, data string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	if _, err := tmp.WriteString(data); err != nil {
		tmp.Close()
		os.Remove(tmpName)
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmpName)
		return err
	}
	if err := os.Chmod(tmpName, 0o644); err != nil {
		os.Remove(tmpName)
		return err
	}
	if err := os.Rename(tmpName, path); err != nil {
		os.Remove(tmpName)
		return err
	}
	return nil
}

// watchParent returns a channel that is closed once the process is
// re-parented, i.e. the original parent has exited.
func watchParent(ppid int) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for range t.C {
			if os.Getppid() != ppid {
				close(ch)
				return
			}
		}
	}()
	return ch
}
