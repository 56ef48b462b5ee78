package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/internal/ui"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func init() {
	register("ui", "serve the web console: pools, tasks, logs, artifacts, live activity (read-only unless --allow-actions)", cmdUI)
}

const uiSummary = `Serve the web console on --listen until SIGTERM or SIGINT: every pool of the store with its counts,
throughput, failure rate and pause state; a pool's tasks (filter, sort, keyset pages); one task with its
def, result, log tail and artifacts; the pool's events of the last hour, live with --nats (without it the
page refreshes every --refresh). Retry, cancel, prioritize and remove need --allow-actions. A listen
address other than loopback needs --token-file (the token is then required: a bearer header or the
login form).`

// maxTokenFile bounds the token file read.
const maxTokenFile = 4 << 10

type uiFlags struct {
	listen       string
	allowActions bool
	tokenFile    string
	refresh      time.Duration
}

func cmdUI(ctx context.Context, m *Main, args []string) error {
	var f uiFlags
	e, err := m.parse("ui", uiSummary, args, func(fs *cli.FlagSet) {
		fs.StringVar(&f.listen, "listen", "TASKFLEET_UI_LISTEN", "127.0.0.1:8080", "HOST:PORT to serve the console on (not loopback: --token-file is required)")
		fs.BoolVar(&f.allowActions, "allow-actions", "TASKFLEET_UI_ALLOW_ACTIONS", false, "allow retry, cancel, prioritize and remove (default: read-only)")
		fs.StringVar(&f.tokenFile, "token-file", "TASKFLEET_UI_TOKEN_FILE", "", "file holding the access token (first line); every request must then carry it")
		fs.DurationVar(&f.refresh, "refresh", "TASKFLEET_UI_REFRESH", 5*time.Second, "how often the page refreshes without NATS")
	})
	if err != nil {
		return err
	}
	token, err := f.validate(e)
	if err != nil {
		return err
	}
	if err := e.open(ctx); err != nil {
		return err
	}
	defer e.close()
	cfg := ui.Config{Backend: uiBackend{e}, AllowActions: f.allowActions, Token: token,
		Refresh: f.refresh, Logger: e.app.Log}
	if e.app.Events != nil {
		cfg.History = e.app.Events
	}
	srv, err := ui.New(cfg)
	if err != nil {
		return err
	}
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", f.listen)
	if err != nil {
		return cli.Usagef("%s: %v", e.fs.Where("listen"), err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	mode := "read-only"
	if f.allowActions {
		mode = "actions allowed"
	}
	fmt.Fprintf(m.Stderr, "dispatcher: console at http://%s/ (%s)\n", ln.Addr(), mode)
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	// Live feeds end with ctx (BaseContext); Shutdown waits for the rest.
	if err := hs.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// validate checks the flags and returns the token.
func (f *uiFlags) validate(e *env) (string, error) {
	if len(e.pos) > 0 {
		return "", cli.Usagef("ui: unexpected argument %q", e.pos[0])
	}
	if f.refresh <= 0 {
		return "", cli.Usagef("%s: %s: want a positive duration", e.fs.Where("refresh"), f.refresh)
	}
	var token string
	if f.tokenFile != "" {
		t, err := readToken(f.tokenFile)
		if err != nil {
			return "", cli.Usagef("%s: %v", e.fs.Where("token-file"), err)
		}
		token = t
	}
	if err := ui.CheckListen(f.listen, token != ""); err != nil {
		return "", cli.Usagef("%s: %v", e.fs.Where("listen"), err)
	}
	return token, nil
}

// readToken returns the first line of path, which must not be empty.
func readToken(path string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxTokenFile+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxTokenFile {
		return "", fmt.Errorf("%s: larger than %d bytes; want one line with the token", path, maxTokenFile)
	}
	tok, _, _ := strings.Cut(string(b), "\n")
	if tok = strings.TrimSpace(tok); tok == "" {
		return "", fmt.Errorf("%s: line 1: empty token", path)
	}
	return tok, nil
}

// uiBackend serves the console every pool of the store, each through a
// Manager (cheap to build, so one per request) sharing the store and the
// event publisher.
type uiBackend struct{ e *env }

func (b uiBackend) ListPools(ctx context.Context) ([]string, error) {
	return b.e.app.Store.ListPools(ctx)
}

func (b uiBackend) Pool(name string) (ui.Pool, error) {
	cfg := taskstate.Config{Store: b.e.app.Store, Pool: name, Logger: b.e.app.Log}
	if b.e.app.Events != nil {
		cfg.Notifier = b.e.app.Events.Notifier()
	}
	m, err := taskstate.NewManager(cfg)
	if err != nil {
		return nil, err
	}
	return &uiPool{Manager: m}, nil
}

// uiPool adapts a Manager to ui.Pool.
type uiPool struct{ *taskstate.Manager }

// Remove never removes a whole pool from the console.
func (p *uiPool) Remove(ctx context.Context, q taskstate.Query) (int64, error) {
	return p.Manager.Remove(ctx, q, false)
}

// Cancel cancels the matching tasks with reason (see Manager.Cancel).
func (p *uiPool) Cancel(ctx context.Context, q taskstate.Query, reason string) (int64, error) {
	return p.Manager.Cancel(ctx, taskstate.CancelParams{Query: q, Reason: reason})
}

// Paused is the one place the console's pause state comes from.
func (p *uiPool) Paused(ctx context.Context) (bool, error) {
	st, err := p.PoolState(ctx)
	return st.Paused, err
}
