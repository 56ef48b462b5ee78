package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/internal/app"
	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/internal/redact"
	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func init() {
	register("dev", "run an embedded NATS server and a reaper for a local multi-process fleet", cmdDev)
}

func cmdDev(ctx context.Context, m *Main, args []string) error {
	var (
		listen, storeDir string
		reapEvery, grace time.Duration
	)
	e, err := m.parse("dev", "Run an embedded NATS server with JetStream on --nats-listen and a reaper over every pool\nof the store, until SIGTERM or SIGINT. Point workers and dispatchers at it with --nats.", args, func(fs *cli.FlagSet) {
		fs.StringVar(&listen, "nats-listen", "TASKFLEET_NATS_LISTEN", "127.0.0.1:4222", "HOST:PORT the embedded NATS server listens on (port 0: any free port)")
		fs.StringVar(&storeDir, "nats-store-dir", "TASKFLEET_NATS_STORE_DIR", "", "JetStream storage directory (default: a temporary directory)")
		fs.DurationVar(&reapEvery, "reap-interval", "TASKFLEET_REAP_INTERVAL", time.Second, "how often to look for expired leases")
		fs.DurationVar(&grace, "reap-grace", "TASKFLEET_REAP_GRACE", 2*time.Second, "how long past expiry, by the store's clock, a lease is left alone (1s to 24h)")
	})
	if err != nil {
		return err
	}
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return cli.Usagef("%s: %q: want HOST:PORT", e.fs.Where("nats-listen"), listen)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return cli.Usagef("%s: %q: bad port", e.fs.Where("nats-listen"), listen)
	}
	if reapEvery <= 0 {
		return cli.Usagef("%s: %s: want > 0", e.fs.Where("reap-interval"), reapEvery)
	}
	if err := taskstate.CheckLease(e.fs.Where("reap-grace"), grace); err != nil {
		return cli.Usagef("%v", err)
	}
	log, err := e.c.NewLog(m.Stderr)
	if err != nil {
		return err
	}
	srv, err := events.StartEmbedded(events.EmbeddedConfig{
		Host: host, Port: port, StoreDir: storeDir, Logger: log,
		User: e.c.NATSUser, Password: e.c.NATSPassword, Token: e.c.NATSToken,
	})
	if err != nil {
		return fmt.Errorf("start NATS on %s: %w", listen, err)
	}
	defer srv.Shutdown()
	conn, err := events.ConnectInProcess(ctx, srv, events.Config{Name: "dispatcher-dev", Logger: log})
	if err != nil {
		return err
	}
	defer conn.Close()
	store, err := app.OpenStore(ctx, &e.c, log)
	if err != nil {
		return err
	}
	defer store.Close()
	fmt.Fprintf(m.Stdout, "nats listening on %s\n", srv.ClientURL())
	log.Info("dev server ready", zap.String("nats", srv.ClientURL()), zap.String("store", redact.URI(e.c.Store)))
	reaper, err := taskstate.NewReaper(taskstate.ReaperConfig{
		Store: store, Notifier: conn.Notifier(), Interval: reapEvery, Grace: grace, Logger: log,
	})
	if err != nil {
		return err
	}
	if err := reaper.Run(ctx); err != nil {
		return err
	}
	log.Info("dev server stopping")
	return nil
}
