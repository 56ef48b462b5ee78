package ui_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/ui"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// backend serves the pools of a real SQLite store through Managers, as the
// dispatcher's adapter does; paused stands in for a pause state.
type backend struct {
	store    taskstate.Store
	notifier taskstate.Notifier
	paused   map[string]bool // nil: ErrNotSupported
}

func (b *backend) ListPools(ctx context.Context) ([]string, error) { return b.store.ListPools(ctx) }

func (b *backend) Pool(name string) (ui.Pool, error) {
	m, err := b.manager(name)
	if err != nil {
		return nil, err
	}
	return &pool{Manager: m, b: b}, nil
}

func (b *backend) manager(name string) (*taskstate.Manager, error) {
	return taskstate.NewManager(taskstate.Config{Store: b.store, Pool: name, Notifier: b.notifier})
}

type pool struct {
	*taskstate.Manager
	b *backend
}

func (p *pool) Remove(ctx context.Context, q taskstate.Query) (int64, error) {
	return p.Manager.Remove(ctx, q, false)
}

func (p *pool) Cancel(context.Context, taskstate.Query, string) (int64, error) {
	return 0, ui.ErrNotSupported
}

func (p *pool) Paused(context.Context) (bool, error) {
	if p.b.paused == nil {
		return false, ui.ErrNotSupported
	}
	return p.b.paused[p.Pool()], nil
}

func newBackend(t *testing.T) *backend {
	t.Helper()
	s, err := sqlitestore.Open(t.Context(), sqlitestore.Config{Path: filepath.Join(t.TempDir(), "tasks.db")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return &backend{store: s}
}

// fleet is what seed made: the ids by the status they ended in.
type fleet struct {
	m   *taskstate.Manager
	ids map[taskstate.Status][]string
}

// seed fills pool with n tasks: 2 running, 3 failed (with an error), 4 done
// with a result, the rest waiting. Task i has def {"model": {"class":
// Linear or Ridge by parity}, "i": i} and kind "train".
func seed(t *testing.T, b *backend, name string, n int) fleet {
	t.Helper()
	ctx := t.Context()
	m, err := b.manager(name)
	require.NoError(t, err)
	specs := make([]taskstate.TaskSpec, n)
	for i := range specs {
		class := "Linear"
		if i%2 == 1 {
			class = "Ridge"
		}
		specs[i] = taskstate.TaskSpec{Kind: "train", Def: map[string]any{"model": map[string]any{"class": class}, "i": i}}
	}
	_, err = m.Create(ctx, specs, taskstate.CreateOptions{})
	require.NoError(t, err)
	f := fleet{m: m, ids: map[taskstate.Status][]string{}}
	claim := func(k int) []*taskstate.Task {
		ts, err := m.Claim(ctx, taskstate.ClaimOptions{Owner: "host-a:42/w1", Limit: k, Lease: time.Hour})
		require.NoError(t, err)
		require.Len(t, ts, k)
		return ts
	}
	for _, tk := range claim(4) {
		require.NoError(t, m.PutLog(ctx, taskstate.TaskLog{ID: tk.ID, Phase: taskstate.StatusWaiting, Attempt: 1, Total: 12, Tail: []byte("epoch 1 ok\n")}))
		_, err := m.StageArtifact(ctx, tk, "pred.csv", strings.NewReader("date,score\n"), taskstate.ArtifactLimits{})
		require.NoError(t, err)
		require.NoError(t, m.PromoteArtifacts(ctx, tk))
		require.NoError(t, m.Commit(ctx, tk, map[string]any{"ic": 0.05}, taskstate.StatusDone))
		f.ids[taskstate.StatusDone] = append(f.ids[taskstate.StatusDone], tk.ID)
	}
	for i, tk := range claim(3) {
		require.NoError(t, m.Fail(ctx, tk, fmt.Errorf("ValueError: singular matrix in fold %d", i)))
		f.ids[taskstate.StatusFailed] = append(f.ids[taskstate.StatusFailed], tk.ID)
	}
	for _, tk := range claim(2) {
		f.ids[taskstate.StatusRunning] = append(f.ids[taskstate.StatusRunning], tk.ID)
	}
	return f
}

// client talks to a console server.
type client struct {
	t   *testing.T
	url string
	hc  *http.Client
}

func serve(t *testing.T, cfg ui.Config) *client {
	t.Helper()
	s, err := ui.New(cfg)
	require.NoError(t, err)
	srv := httpServer(t, s)
	return &client{t: t, url: srv.URL, hc: srv.Client()}
}

// httpServer serves h until the test ends; open event streams end first
// (their requests' context is cancelled), so Close does not wait on them.
func httpServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(h)
	srv.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(cancel)
	return srv
}

// do sends a request with the given headers ("Name: value") and returns
// the status and body.
func (c *client) do(method, path, body string, headers ...string) (int, string) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.url+path, rd)
	require.NoError(c.t, err)
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Add(k, v)
	}
	resp, err := c.hc.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if !errors.Is(err, context.Canceled) {
		require.NoError(c.t, err)
	}
	return resp.StatusCode, string(b)
}

// csrf returns the CSRF token the page gets.
func (c *client) csrf() string {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.t.Context(), http.MethodGet, c.url+"/api/config", nil)
	require.NoError(c.t, err)
	resp, err := c.hc.Do(req)
	require.NoError(c.t, err)
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == ui.CSRFCookie {
			require.Equal(c.t, http.SameSiteStrictMode, ck.SameSite)
			return ck.Value
		}
	}
	c.t.Fatal("no CSRF cookie")
	return ""
}

// action posts an action the way the page does.
func (c *client) action(pool, action, body string) (int, string) {
	c.t.Helper()
	tok := c.csrf()
	return c.do(http.MethodPost, "/api/pools/"+pool+"/actions/"+action, body,
		"Content-Type: application/json", "Cookie: "+ui.CSRFCookie+"="+tok, ui.CSRFHeader+": "+tok)
}
