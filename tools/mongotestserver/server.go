package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// serverConfig configures a test server.
type serverConfig struct {
	// Listen is the TCP address; port 0 picks a free port.
	Listen string
	// Dir is the SQLite data directory. If empty, a temporary directory is
	// created and removed by Stop.
	Dir string
	// Logger receives FerretDB's logs. If nil, logs are discarded.
	Logger *slog.Logger
	// ReadyTimeout bounds the wait for the first successful ping.
	ReadyTimeout time.Duration
}

// server is a running embedded FerretDB instance.
type server struct {
	uri     string
	dir     string
	tempDir bool

	cancel context.CancelFunc
	done   chan error
}

// URI returns the MongoDB connection string, e.g. "mongodb://127.0.0.1:41234/".
func (s *server) URI() string { return s.uri }

// Addr returns the server's host:port.
func (s *server) Addr() string {
	u, err := url.Parse(s.uri)
	if err != nil {
		return ""
	}
	return u.Host
}

// Dir returns the SQLite data directory.
func (s *server) Dir() string { return s.dir }

// Done is closed (after receiving Run's result) when the server has stopped.
func (s *server) Done() <-chan error { return s.done }

// startServer starts FerretDB with the SQLite backend and returns once it
// answers a ping on its listener.
func startServer(ctx context.Context, cfg serverConfig) (_ *server, retErr error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 30 * time.Second
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	s := &server{done: make(chan error, 1)}

	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "mongotestserver-")
		if err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		s.dir, s.tempDir = dir, true
	} else {
		dir, err := filepath.Abs(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		s.dir = dir
	}
	defer func() {
		if retErr != nil {
			s.removeTempDir()
		}
	}()

	// The SQLite handler wants a "file:" URI naming an existing directory,
	// with a trailing slash.
	sqliteURL := (&url.URL{Scheme: "file", Path: filepath.ToSlash(s.dir) + "/"}).String()

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: cfg.Listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		return nil, fmt.Errorf("start FerretDB: %w", err)
	}

	// New has already bound the listener, so the URI (with the real port)
	// is known before Run starts accepting.
	s.uri = f.MongoDBURI()

	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		s.done <- f.Run(runCtx)
		close(s.done)
	}()

	if err := waitReady(ctx, s.uri, cfg.ReadyTimeout); err != nil {
		cancel()
		<-s.done
		return nil, err
	}
	return s, nil
}

// waitReady pings the server until it answers or the timeout expires.
func waitReady(ctx context.Context, uri string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	client, err := mongo.Connect(options.Client().
		ApplyURI(uri).
		SetServerSelectionTimeout(timeout).
		SetConnectTimeout(5 * time.Second))
	if err != nil {
		return fmt.Errorf("connect to %s: %w", uri, err)
	}
	defer func() { _ = client.Disconnect(context.Background()) }()

	var lastErr error
	for {
		lastErr = client.Database("admin").RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err()
		if lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server at %s not ready after %s: %w", uri, timeout, errors.Join(lastErr, ctx.Err()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop shuts the server down, waiting at most timeout for open connections
// to close, and removes the temporary data directory. It is safe to call more
// than once.
func (s *server) Stop(timeout time.Duration) error {
	s.cancel()
	var err error
	select {
	case err = <-s.done:
	case <-time.After(timeout):
		err = fmt.Errorf("server did not stop within %s", timeout)
	}
	s.removeTempDir()
	return err
}

func (s *server) removeTempDir() {
	if s.tempDir && s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}
