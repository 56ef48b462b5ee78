package eventstest

import (
	"context"
	"testing"
	"time"

	"github.com/taskfleet/taskfleet/pkg/events"
)

// Server starts an embedded server with cfg (a random port and a temporary
// store dir unless set) and shuts it down when the test ends.
func Server(tb testing.TB, cfg events.EmbeddedConfig) *events.Embedded {
	tb.Helper()
	srv, err := events.StartEmbedded(cfg)
	if err != nil {
		tb.Fatalf("start embedded NATS server: %v", err)
	}
	tb.Cleanup(srv.Shutdown)
	return srv
}

// Connect connects to srv over TCP with cfg (cfg.URL defaults to the
// server's ClientURL) and closes the connection when the test ends.
func Connect(tb testing.TB, srv *events.Embedded, cfg events.Config) *events.Conn {
	tb.Helper()
	if cfg.URL == "" {
		cfg.URL = srv.ClientURL()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := events.Connect(ctx, cfg)
	if err != nil {
		tb.Fatalf("connect to embedded NATS server: %v", err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return conn
}
