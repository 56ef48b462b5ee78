package serialproxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
)

// Config configures Start.
type Config struct {
	// Listen is the TCP address to listen on. Default "127.0.0.1:0" (a
	// free loopback port).
	Listen string
	// Backend is the server's address, host:port. Required.
	Backend string
	// Logger receives connection errors at debug level. Default: discard.
	Logger *slog.Logger
}

// Proxy is a running serialising proxy.
type Proxy struct {
	ln      net.Listener
	backend string
	log     *slog.Logger

	// mu is held while a command is at the server: forwarding the request
	// and reading the whole reply.
	mu sync.Mutex

	connsMu sync.Mutex
	conns   map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

// Start listens on cfg.Listen and serves connections until Close.
func Start(cfg Config) (*Proxy, error) {
	if cfg.Backend == "" {
		return nil, errors.New("serialproxy: Config.Backend is required")
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("serialproxy: listen: %w", err)
	}
	p := &Proxy{ln: ln, backend: cfg.Backend, log: cfg.Logger, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	return p, nil
}

// Addr returns the address the proxy listens on, host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Close stops accepting, closes every connection and waits for their
// goroutines.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.connsMu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.connsMu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(client) {
			return
		}
		p.wg.Go(func() {
			defer p.untrack(client)
			p.serve(client)
		})
	}
}

// track registers a connection for Close; false if the proxy is closed
// (the connection is closed then).
func (p *Proxy) track(c net.Conn) bool {
	p.connsMu.Lock()
	defer p.connsMu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	_ = c.Close()
	p.connsMu.Lock()
	delete(p.conns, c)
	p.connsMu.Unlock()
}

// serve relays one client connection over its own server connection, one
// request and its reply at a time.
func (p *Proxy) serve(client net.Conn) {
	server, err := net.Dial("tcp", p.backend)
	if err != nil {
		p.log.Debug("dial backend", "error", err)
		return
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	for {
		msg, err := readMessage(client)
		if err != nil {
			p.log.Debug("read request", "error", err)
			return
		}
		req := parseRequest(msg)
		reply, err := p.roundTrip(server, req)
		if err != nil {
			p.log.Debug("round trip", "command", req.command, "error", err)
			return
		}
		if req.moreToCome {
			continue // the client expects no reply
		}
		if _, err := client.Write(reply); err != nil {
			p.log.Debug("write reply", "error", err)
			return
		}
	}
}

// roundTrip forwards a request and reads its whole reply, under the lock
// unless the request is a handshake.
func (p *Proxy) roundTrip(server net.Conn, req request) ([]byte, error) {
	if !isHandshake(req.command) {
		p.mu.Lock()
		defer p.mu.Unlock()
	}
	if _, err := server.Write(req.msg); err != nil {
		return nil, err
	}
	return readMessage(server)
}
