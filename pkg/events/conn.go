package events

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Stream settings. See the package documentation.
const (
	// StreamName is the JetStream stream that stores task events.
	StreamName = "TASKFLEET"
	// SubjectPrefix is the first token of every event subject.
	SubjectPrefix = "taskfleet"
	// StreamMaxAge is how long the stream keeps an event.
	StreamMaxAge = time.Hour
	// StreamDuplicates is the window in which a repeated Nats-Msg-Id is
	// dropped by the stream.
	StreamDuplicates = 2 * time.Minute
)

// Timeouts of the background work of a Conn.
const (
	// ackTimeout fails a publish whose ack has not come back, so the
	// publish window cannot fill up with lost acks.
	ackTimeout = 5 * time.Second
	// bgTimeout bounds each stream check and flush done after a reconnect.
	bgTimeout = 5 * time.Second
	// ensureEvery spaces the stream checks asked for by failed publishes.
	ensureEvery = time.Second
	// closeAckWait is how long Close waits for acks in flight.
	closeAckWait = 2 * time.Second
)

// Conn is a connection to a NATS server with JetStream: it publishes task
// events (Notifier) and hands out wake-ups (Wakeups).
//
// A Conn reconnects forever after a lost connection, with a short jittered
// wait. After each reconnect it makes sure the stream exists again (a fresh
// server has none) and tells every Wakeup, which signals a wake-up because
// events may have been missed while disconnected. While disconnected,
// publishes fail at once and are counted (the client's reconnect buffer is
// off: a buffered publish would only appear to be sent).
//
// A Conn is safe for concurrent use. Close releases it.
type Conn struct {
	cfg Config
	log *zap.Logger
	sc  scrubber
	url string // redacted
	nc  *nats.Conn
	js  jetstream.JetStream
	m   *metrics
	pub *Publisher

	ctx    context.Context // ends on Close
	cancel context.CancelFunc
	done   chan struct{} // closed when loop returns

	history     chan historyItem // the history events to publish (historyqueue.go), at most MaxPending
	historyDone chan struct{}    // closed when historyLoop returns

	reconnected chan struct{} // capacity 1, from the client's reconnect callback
	ensureReq   chan struct{} // capacity 1, from failed publishes

	mu      sync.Mutex
	closed  bool
	wakeups map[*Wakeup]struct{}
	works   map[*WorkWakeup]struct{}

	connLog rateLog // reconnect failures and async errors
}

// Connect connects to the server at cfg.URL, makes sure the stream exists
// and returns the Conn.
//
// A server that does not answer is retried for cfg.ConnectRetry (or until
// ctx ends) and then fails with an error wrapping ErrUnreachable. A server
// that refuses the credentials fails at once with an error wrapping
// ErrAuthorization, such as
//
//	events: connect nats://***@127.0.0.1:4222: authorization violation
//
// A server without JetStream fails with an error wrapping ErrJetStream.
// Errors never contain credentials.
func Connect(ctx context.Context, cfg Config) (*Conn, error) {
	return connect(ctx, cfg)
}

func connect(ctx context.Context, cfg Config, extra ...nats.Option) (*Conn, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	c := &Conn{
		cfg:         cfg,
		log:         cfg.Logger.Named("events"),
		sc:          newScrubber(cfg),
		url:         Redact(cfg.URL),
		done:        make(chan struct{}),
		history:     make(chan historyItem, cfg.MaxPending),
		historyDone: make(chan struct{}),
		reconnected: make(chan struct{}, 1),
		ensureReq:   make(chan struct{}, 1),
		wakeups:     make(map[*Wakeup]struct{}),
		works:       make(map[*WorkWakeup]struct{}),
		connLog:     rateLog{every: logEvery},
	}
	c.m = newMetrics()
	c.pub = newPublisher(c)

	opts := append(c.natsOptions(), cfg.authOptions()...)
	if tlsCfg != nil {
		opts = append(opts, nats.Secure(tlsCfg))
	}
	opts = append(opts, extra...)
	nc, err := c.dial(ctx, opts)
	background := false
	if err != nil {
		if !cfg.ConnectInBackground || !errors.Is(err, ErrUnreachable) {
			return nil, err
		}
		// Events are hints: keep connecting in the background. The first
		// dial above already failed fast on refused credentials or TLS.
		opts = append(opts, nats.RetryOnFailedConnect(true), nats.ConnectHandler(c.onReconnect))
		if nc, err = nats.Connect(cfg.URL, opts...); err != nil {
			return nil, classifyConnectErr(err)
		}
		background = true
		c.log.Warn("NATS is unreachable; running on polling until it answers", zap.String("url", c.url))
	}
	c.nc = nc
	c.js, err = jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(cfg.MaxPending),
		jetstream.WithPublishAsyncTimeout(ackTimeout),
		jetstream.WithPublishAsyncAckHandler(c.pub.onAck),
		jetstream.WithPublishAsyncErrHandler(c.pub.onAsyncErr),
	)
	if err != nil {
		nc.Close()
		return nil, &opError{op: "jetstream", kind: ErrJetStream, err: err, msg: c.describe(err)}
	}
	if err := c.pub.startWake(); err != nil {
		nc.Close()
		return nil, &opError{op: "subscribe", err: err, msg: c.describe(err)}
	}
	if !background {
		if err := c.EnsureStream(ctx); err != nil {
			nc.Close()
			return nil, err
		}
	}
	c.m.register(cfg.Registerer)
	if nc.IsConnected() {
		c.m.connected.Set(1)
	} else {
		c.m.connected.Set(0)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.loop()
	go c.historyLoop()
	if !background {
		c.log.Info("connected to NATS", zap.String("url", Redact(nc.ConnectedUrl())),
			zap.String("server", nc.ConnectedServerName()))
	}
	return c, nil
}

// natsOptions are the client options every Conn uses.
func (c *Conn) natsOptions() []nats.Option {
	return []nats.Option{
		nats.Name(c.cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(c.cfg.ReconnectWait),
		nats.ReconnectJitter(c.cfg.ReconnectWait, c.cfg.ReconnectWait),
		// No reconnect buffer: a publish while disconnected fails (and is
		// counted) instead of appearing sent and being lost later.
		nats.ReconnectBufSize(-1),
		// A server restarting with an auth glitch must not end the
		// reconnect loop for good.
		nats.IgnoreAuthErrorAbort(),
		// Notice a dead server behind a silent network within ~30 s.
		nats.PingInterval(10 * time.Second),
		nats.MaxPingsOutstanding(3),
		nats.NoCallbacksAfterClientClose(),
		nats.DisconnectErrHandler(c.onDisconnect),
		nats.ReconnectHandler(c.onReconnect),
		nats.ReconnectErrHandler(c.onReconnectErr),
		nats.ErrorHandler(c.onAsyncError),
	}
}

// dial connects, retrying a server that does not answer for
// cfg.ConnectRetry.
func (c *Conn) dial(ctx context.Context, opts []nats.Option) (*nats.Conn, error) {
	deadline := time.Now().Add(c.cfg.ConnectRetry)
	wait := 50 * time.Millisecond
	for {
		nc, err := nats.Connect(c.cfg.URL, opts...)
		if err == nil {
			return nc, nil
		}
		kind := classifyConnectErr(err)
		cerr := &opError{op: "connect " + c.url, kind: kind, err: err, msg: c.describe(err)}
		if !errors.Is(kind, ErrUnreachable) || c.cfg.ConnectRetry < 0 || time.Now().Add(wait).After(deadline) {
			return nil, cerr
		}
		c.log.Debug("NATS server not answering yet; retrying", zap.String("url", c.url), zap.Error(cerr))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, &opError{op: "connect " + c.url, kind: ErrUnreachable, err: ctx.Err(),
				msg: c.describe(err) + " (" + ctx.Err().Error() + ")"}
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
	}
}

// classifyConnectErr maps a client error to ErrAuthorization, ErrUnreachable
// (worth retrying) or nil (anything else, such as a TLS failure: fail at
// once).
func classifyConnectErr(err error) error {
	if authErr(err) != nil {
		return ErrAuthorization
	}
	switch {
	case errors.Is(err, nats.ErrNoServers), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ErrUnreachable
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ErrUnreachable
	}
	return nil
}

// authErr returns the client's sentinel for an authentication failure, or
// nil. The sentinel's text is stable ("nats: authorization violation"),
// the server's is not ("Authorization Violation").
func authErr(err error) error {
	for _, s := range []error{nats.ErrAuthorization, nats.ErrAuthExpired, nats.ErrAuthRevoked, nats.ErrAccountAuthExpired} {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}

// StreamConfig returns the configuration EnsureStream applies.
func (c *Conn) StreamConfig() jetstream.StreamConfig {
	storage := jetstream.FileStorage
	if c.cfg.MemoryStorage {
		storage = jetstream.MemoryStorage
	}
	return jetstream.StreamConfig{
		Name:        StreamName,
		Description: "taskfleet task events: hints that wake workers and waiters; the task store is the truth",
		Subjects:    []string{SubjectPrefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      StreamMaxAge,
		MaxMsgs:     c.cfg.StreamMaxMsgs,
		MaxBytes:    c.cfg.StreamMaxBytes,
		MaxMsgSize:  c.cfg.StreamMaxMsgSize,
		Duplicates:  StreamDuplicates,
		Storage:     storage,
		Replicas:    c.cfg.Replicas,
	}
}

// EnsureStream creates the streams (the history and the work queue), or
// updates them to StreamConfig and WorkStreamConfig, limits included. A
// Conn calls it on connect, after every reconnect and when a publish finds
// no stream, so callers rarely need to. An existing stream whose fixed
// settings (storage, replicas) differ is used as it is, with a warning.
// Errors wrap ErrJetStream.
func (c *Conn) EnsureStream(ctx context.Context) error {
	if err := c.ensureStream(ctx, c.StreamConfig()); err != nil {
		return err
	}
	return c.ensureStream(ctx, c.WorkStreamConfig())
}

func (c *Conn) ensureStream(ctx context.Context, cfg jetstream.StreamConfig) error {
	_, err := c.js.CreateOrUpdateStream(ctx, cfg)
	if err == nil {
		return nil
	}
	msg := c.describe(err)
	switch {
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrJetStreamNotEnabled),
		errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		msg = "JetStream is not enabled on the server (run nats-server -js): " + msg
	default:
		if s, ierr := c.js.Stream(ctx, cfg.Name); ierr == nil && slices.Contains(s.CachedInfo().Config.Subjects, cfg.Subjects[0]) {
			c.log.Warn("stream exists with other settings; using it as it is",
				zap.String("stream", cfg.Name), zap.String("error", msg))
			return nil
		}
	}
	return &opError{op: "ensure stream " + cfg.Name, kind: ErrJetStream, err: err, msg: msg}
}

// Notifier returns the Conn's Publisher, which implements
// taskstate.Notifier.
func (c *Conn) Notifier() *Publisher { return c.pub }

// URL returns the server URL the Conn was configured with, redacted.
func (c *Conn) URL() string { return c.url }

// Close closes every Wakeup of the Conn, waits up to 2 s for the acks of
// publishes in flight and closes the connection. It is idempotent.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	ws := c.wakeups
	c.wakeups = nil
	c.mu.Unlock()

	for w := range ws {
		w.stop()
	}
	c.cancel()
	<-c.done
	<-c.historyDone // what was queued is published: the ack wait below covers it
	t := time.NewTimer(closeAckWait)
	select {
	case <-c.js.PublishAsyncComplete():
	case <-t.C:
	}
	t.Stop()
	c.nc.Close()
	c.m.connected.Set(0)
	return nil
}

// loop owns the Conn's background work: after a reconnect, tell the
// wake-ups and re-ensure the stream; on request from a failed publish,
// ensure the stream (at most once per ensureEvery).
func (c *Conn) loop() {
	defer close(c.done)
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.reconnected:
			c.afterReconnect()
		case <-c.ensureReq:
			ctx, cancel := context.WithTimeout(c.ctx, bgTimeout)
			if err := c.EnsureStream(ctx); err != nil && c.ctx.Err() == nil {
				c.log.Warn("stream check failed", zap.Error(err))
			}
			cancel()
			t := time.NewTimer(ensureEvery)
			select {
			case <-c.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

func (c *Conn) afterReconnect() {
	ctx, cancel := context.WithTimeout(c.ctx, bgTimeout)
	defer cancel()
	// The client has resent the subscriptions; one round trip makes sure
	// the server applied them before waiters recount.
	if err := c.nc.FlushWithContext(ctx); err != nil && c.ctx.Err() == nil {
		c.log.Debug("flush after reconnect failed", zap.String("error", c.describe(err)))
	}
	c.mu.Lock()
	ws := make([]*Wakeup, 0, len(c.wakeups))
	for w := range c.wakeups {
		ws = append(ws, w)
	}
	c.mu.Unlock()
	for _, w := range ws {
		w.onReconnect()
	}
	if err := c.EnsureStream(ctx); err != nil && c.ctx.Err() == nil {
		c.log.Warn("stream check after reconnect failed", zap.Error(err))
	}
	c.kickWorks()
}

// requestEnsure asks the loop for a stream check; it never blocks.
func (c *Conn) requestEnsure() {
	select {
	case c.ensureReq <- struct{}{}:
	default:
	}
}

func (c *Conn) onDisconnect(_ *nats.Conn, err error) {
	if err == nil {
		return // a Close
	}
	c.m.connected.Set(0)
	c.log.Warn("disconnected from NATS; reconnecting", zap.String("url", c.url), zap.String("error", c.describe(err)))
}

func (c *Conn) onReconnect(nc *nats.Conn) {
	c.m.reconnects.Inc()
	c.m.connected.Set(1)
	c.log.Info("reconnected to NATS", zap.String("url", Redact(nc.ConnectedUrl())))
	select {
	case c.reconnected <- struct{}{}:
	default:
	}
}

func (c *Conn) onReconnectErr(_ *nats.Conn, err error) {
	if ok, suppressed := c.connLog.allow(time.Now()); ok {
		c.log.Warn("reconnect to NATS failed; retrying", zap.String("url", c.url),
			zap.String("error", c.describe(err)), zap.Int("suppressed", suppressed))
	}
}

func (c *Conn) onAsyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if ok, suppressed := c.connLog.allow(time.Now()); ok {
		f := []zap.Field{zap.String("error", c.describe(err)), zap.Int("suppressed", suppressed)}
		if sub != nil {
			f = append(f, zap.String("subject", sub.Subject))
		}
		c.log.Warn("NATS error", f...)
	}
}

// describe renders err for a log line or an error message: the server's
// description of an API error, without the client's "nats: " prefix and
// without any known secret.
func (c *Conn) describe(err error) string {
	if err == nil {
		return ""
	}
	var apiErr *jetstream.APIError
	msg := err.Error()
	if a := authErr(err); a != nil {
		msg = a.Error()
	} else if errors.As(err, &apiErr) && apiErr.Description != "" {
		msg = apiErr.Description
	}
	return c.sc.scrub(strings.TrimPrefix(msg, "nats: "))
}

// opError is an error of this package: "events: <op>: <msg>". It wraps
// both the sentinel kind (when set) and the client's error.
type opError struct {
	op   string
	kind error
	err  error
	msg  string // err, described and scrubbed
}

func (e *opError) Error() string { return "events: " + e.op + ": " + e.msg }

func (e *opError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err}
	}
	return []error{e.kind, e.err}
}
