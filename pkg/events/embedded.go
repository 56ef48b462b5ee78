package events

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// DefaultReadyTimeout is the default EmbeddedConfig.ReadyTimeout.
const DefaultReadyTimeout = 10 * time.Second

// EmbeddedConfig configures an in-process NATS server with JetStream.
type EmbeddedConfig struct {
	// Host to listen on. Defaults to "127.0.0.1".
	Host string
	// Port to listen on. Defaults to 0: a random free port (ClientURL tells
	// which).
	Port int
	// InProcessOnly opens no listener: only ConnectInProcess reaches the
	// server, and ClientURL is empty.
	InProcessOnly bool

	// StoreDir is the JetStream storage directory. Defaults to a new
	// temporary directory, removed by Shutdown. A given directory is kept,
	// so a server started again on it recovers the stream.
	StoreDir string

	// User and Password require clients to authenticate with them.
	User     string
	Password string
	// Token requires clients to authenticate with this token.
	Token string

	// Logger receives the server's warnings and errors (its notices at
	// debug level). Defaults to no logging at all.
	Logger *zap.Logger

	// ReadyTimeout bounds how long StartEmbedded waits for the server to
	// accept clients. Defaults to 10 s.
	ReadyTimeout time.Duration
}

// Embedded is a NATS server with JetStream running in this process: the
// fully embedded default needs no servers, and `dispatcher dev` serves a
// local multi-process fleet from it.
type Embedded struct {
	cfg     EmbeddedConfig
	srv     *server.Server
	tempDir bool

	once sync.Once
}

// StartEmbedded starts a server and waits until it accepts clients.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.Token != "" && (cfg.User != "" || cfg.Password != "") {
		return nil, fmt.Errorf("%w: EmbeddedConfig.Token excludes EmbeddedConfig.User and EmbeddedConfig.Password", ErrInvalidConfig)
	}
	if (cfg.User == "") != (cfg.Password == "") {
		return nil, fmt.Errorf("%w: EmbeddedConfig.User and EmbeddedConfig.Password go together", ErrInvalidConfig)
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("%w: EmbeddedConfig.Port %d is out of range", ErrInvalidConfig, cfg.Port)
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.Port != 0 && !cfg.InProcessOnly {
		// The server reports a busy port only by never becoming ready; a
		// trial listen turns that into a clear error at once.
		l, err := new(net.ListenConfig).Listen(context.Background(), "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
		if err != nil {
			return nil, fmt.Errorf("events: embedded server: %w", err)
		}
		_ = l.Close()
	}
	e := &Embedded{cfg: cfg}
	if cfg.StoreDir == "" {
		dir, err := os.MkdirTemp("", "taskfleet-nats-")
		if err != nil {
			return nil, fmt.Errorf("events: embedded server: store dir: %w", err)
		}
		e.cfg.StoreDir, e.tempDir = dir, true
	}
	port := cfg.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName:    "taskfleet",
		Host:          cfg.Host,
		Port:          port,
		DontListen:    cfg.InProcessOnly,
		JetStream:     true,
		StoreDir:      e.cfg.StoreDir,
		Username:      cfg.User,
		Password:      cfg.Password,
		Authorization: cfg.Token,
		NoSigs:        true,
		NoLog:         cfg.Logger == nil,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		e.removeTemp()
		return nil, fmt.Errorf("events: embedded server: %w", err)
	}
	if cfg.Logger != nil {
		srv.SetLoggerV2(serverLogger{cfg.Logger.Named("nats-server").Sugar()}, false, false, false)
	}
	srv.Start()
	if !srv.ReadyForConnections(cfg.ReadyTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		e.removeTemp()
		return nil, fmt.Errorf("events: embedded server on %s: not ready after %s (port in use?)",
			net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)), cfg.ReadyTimeout)
	}
	e.srv = srv
	return e, nil
}

// ClientURL returns the URL clients connect to, "nats://127.0.0.1:PORT",
// without credentials; empty for an InProcessOnly server.
func (e *Embedded) ClientURL() string {
	if e.cfg.InProcessOnly {
		return ""
	}
	return e.srv.ClientURL()
}

// Port returns the port the server listens on (the chosen one when
// EmbeddedConfig.Port was 0).
func (e *Embedded) Port() int {
	if a, ok := e.srv.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// StoreDir returns the JetStream storage directory.
func (e *Embedded) StoreDir() string { return e.cfg.StoreDir }

// InProcessConn opens a connection to the server without the network; it
// makes *Embedded a nats.InProcessConnProvider.
func (e *Embedded) InProcessConn() (net.Conn, error) { return e.srv.InProcessConn() }

// Shutdown stops the server, waits until it has stopped and removes a
// temporary store dir. It is idempotent.
func (e *Embedded) Shutdown() {
	e.once.Do(func() {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
		e.removeTemp()
	})
}

func (e *Embedded) removeTemp() {
	if e.tempDir {
		_ = os.RemoveAll(e.cfg.StoreDir)
	}
}

// ConnectInProcess connects to e through an in-process pipe, skipping TCP.
// cfg.URL may be empty; the server's credentials are used when cfg has
// none. An in-process connection cannot follow the server through a
// restart (a new server is a new Embedded): use Connect with ClientURL for
// that.
func ConnectInProcess(ctx context.Context, e *Embedded, cfg Config) (*Conn, error) {
	if cfg.URL == "" {
		cfg.URL = e.ClientURL()
		if cfg.URL == "" {
			cfg.URL = "nats://in-process"
		}
	}
	if cfg.User == "" && cfg.Password == "" && cfg.Token == "" && !strings.Contains(cfg.URL, "@") {
		cfg.User, cfg.Password, cfg.Token = e.cfg.User, e.cfg.Password, e.cfg.Token
	}
	return connect(ctx, cfg, nats.InProcessServer(e))
}

// serverLogger adapts zap to the server's Logger interface: warnings and
// errors are logged as such, notices at debug level, debug and trace
// output (off on the server) is dropped. Fatalf logs an error and does
// not exit: the server shuts itself down.
type serverLogger struct{ l *zap.SugaredLogger }

func (s serverLogger) Noticef(format string, v ...any) { s.l.Debugf(format, v...) }
func (s serverLogger) Warnf(format string, v ...any)   { s.l.Warnf(format, v...) }
func (s serverLogger) Errorf(format string, v ...any)  { s.l.Errorf(format, v...) }
func (s serverLogger) Fatalf(format string, v ...any)  { s.l.Errorf("fatal: "+format, v...) }
func (s serverLogger) Debugf(string, ...any)           {}
func (s serverLogger) Tracef(string, ...any)           {}
