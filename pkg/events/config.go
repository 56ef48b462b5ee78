package events

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Defaults of Config.
const (
	// DefaultDebounce is the default Config.Debounce.
	DefaultDebounce = 2 * time.Millisecond
	// DefaultMaxPending is the default Config.MaxPending.
	DefaultMaxPending = 4096
	// DefaultConnectRetry is the default Config.ConnectRetry.
	DefaultConnectRetry = 5 * time.Second
	// DefaultReconnectWait is the default Config.ReconnectWait.
	DefaultReconnectWait = 250 * time.Millisecond
)

// Config configures a connection to a NATS server with JetStream.
type Config struct {
	// URL of the server, "nats://host:4222", or a comma-separated list of
	// servers of one cluster. Credentials may be given in it
	// ("nats://user:pass@host:4222", "nats://token@host:4222"); they are
	// never logged nor returned in errors (see Redact). Required.
	URL string

	// User and Password authenticate with a user name and password.
	User     string
	Password string
	// Token authenticates with a token.
	Token string
	// CredsFile is a NATS credentials file (JWT and nkey seed).
	CredsFile string

	// TLSCAFile is a PEM file of the CAs that sign the server certificate.
	// Setting any TLS field turns TLS on.
	TLSCAFile string
	// TLSCertFile and TLSKeyFile are the client certificate and its key
	// (mutual TLS). Set both or neither.
	TLSCertFile string
	TLSKeyFile  string
	// TLSInsecureSkipVerify accepts any server certificate. For tests only.
	TLSInsecureSkipVerify bool

	// Name is the client name the server shows in its connection list.
	// Defaults to "taskfleet".
	Name string

	// Logger receives connection changes (info and warn) and rate-limited
	// publish failures. Defaults to no logging.
	Logger *zap.Logger

	// Registerer receives this package's metrics. Nil: no metrics are
	// registered (they are still counted, for tests).
	Registerer prometheus.Registerer

	// ConnectRetry bounds how long Connect keeps retrying a server that
	// does not answer (not started yet, restarting). A server that answers
	// and refuses the credentials fails at once. Defaults to 5 s; a
	// negative value makes one attempt. The context given to Connect can
	// end it sooner.
	ConnectRetry time.Duration

	// ConnectInBackground makes Connect succeed when the server does not
	// answer within ConnectRetry: the Conn keeps connecting in the
	// background (publishes fail and are counted meanwhile; Wakeups go live
	// and signal once connected). Refused credentials and TLS errors still
	// fail at once. Default false.
	ConnectInBackground bool
	// ReconnectWait is the pause between reconnect attempts after a lost
	// connection; a random jitter of up to the same amount is added.
	// Reconnection never gives up. Defaults to 250 ms.
	ReconnectWait time.Duration

	// MaxPending bounds the publishes waiting for their JetStream ack.
	// When the window is full, Notify drops the event and counts it as
	// failed instead of blocking. Defaults to 4096.
	MaxPending int

	// Debounce throttles the wake-ups of each Wakeup: the first event
	// signals at once, later events within Debounce of the last signal are
	// folded into one more signal at the end of the interval. Defaults to
	// 2 ms; a negative value signals on every event (still coalesced by
	// the channel's capacity of one).
	Debounce time.Duration

	// MemoryStorage keeps the stream in memory instead of files. Only
	// applies when this connection creates the stream or updates it.
	MemoryStorage bool

	// Replicas of each stream in a JetStream cluster, 1 to 5 (JetStream's
	// most). Defaults to 1. Three on a cluster of three nodes keep the
	// streams, and the workers' shared consumers, through the loss of
	// one node.
	Replicas int

	// StreamMaxBytes, StreamMaxMsgs and StreamMaxMsgSize limit each of the
	// two streams (the history and the work queue). When a stream is full
	// the oldest messages go; a message over StreamMaxMsgSize is refused.
	// Default 256 MiB, 1,000,000 messages and 4 KiB (DefaultStreamMaxBytes
	// and so on); a Conn applies them to existing streams too.
	StreamMaxBytes   int64
	StreamMaxMsgs    int64
	StreamMaxMsgSize int32

	// WorkFanout caps the wake-ups one event puts on the pool's work
	// queue: an event for n tasks wakes up to min(n, WorkFanout) idle
	// workers, each of which claims as many as it has free slots.
	// Default 64.
	WorkFanout int
}

// withDefaults returns cfg with defaults filled in, or an error naming the
// first bad field.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.URL == "" {
		return cfg, fmt.Errorf("%w: Config.URL is required", ErrInvalidConfig)
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return cfg, fmt.Errorf("%w: Config.TLSCertFile and Config.TLSKeyFile go together", ErrInvalidConfig)
	}
	if cfg.Token != "" && (cfg.User != "" || cfg.Password != "") {
		return cfg, fmt.Errorf("%w: Config.Token excludes Config.User and Config.Password", ErrInvalidConfig)
	}
	if cfg.MaxPending < 0 {
		return cfg, fmt.Errorf("%w: Config.MaxPending must not be negative", ErrInvalidConfig)
	}
	if cfg.Replicas < 0 || cfg.Replicas > 5 {
		return cfg, fmt.Errorf("%w: Config.Replicas must be 0 to 5, got %d", ErrInvalidConfig, cfg.Replicas)
	}
	if cfg.Name == "" {
		cfg.Name = "taskfleet"
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.ConnectRetry == 0 {
		cfg.ConnectRetry = DefaultConnectRetry
	}
	if cfg.ReconnectWait <= 0 {
		cfg.ReconnectWait = DefaultReconnectWait
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = DefaultDebounce
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	return cfg.withLimits()
}

// tlsConfig builds the client TLS configuration, or nil when no TLS field
// is set.
func (cfg Config) tlsConfig() (*tls.Config, error) {
	if cfg.TLSCAFile == "" && cfg.TLSCertFile == "" && !cfg.TLSInsecureSkipVerify {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: cfg.TLSInsecureSkipVerify, //nolint:gosec // opt-in, documented as for tests
	}
	if cfg.TLSCAFile != "" {
		pem, err := os.ReadFile(cfg.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: Config.TLSCAFile: %w", ErrInvalidConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: Config.TLSCAFile %s: no PEM certificate in it", ErrInvalidConfig, cfg.TLSCAFile)
		}
		tc.RootCAs = pool
	}
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: Config.TLSCertFile/TLSKeyFile: %w", ErrInvalidConfig, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// authOptions returns the client options for the configured credentials.
func (cfg Config) authOptions() []nats.Option {
	var opts []nats.Option
	if cfg.User != "" || cfg.Password != "" {
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.Token != "" {
		opts = append(opts, nats.Token(cfg.Token))
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	return opts
}
