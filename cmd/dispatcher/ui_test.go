package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/fleettest"
	"github.com/taskfleet/taskfleet/internal/ui"
)

func TestUIUsage(t *testing.T) {
	env := storeEnv(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte("\n\n"), 0o600))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ui", "--listen", "0.0.0.0:0"}, "--listen: a non-loopback address requires a token"},
		{[]string{"ui", "--listen", ":8080"}, "--listen"},
		{[]string{"ui", "--listen", "8080"}, "--listen"},
		{[]string{"ui", "--token-file", filepath.Join(dir, "missing")}, "--token-file"},
		{[]string{"ui", "--token-file", empty}, "line 1: empty token"},
		{[]string{"ui", "--refresh", "0s"}, "--refresh"},
		{[]string{"ui", "extra"}, "unexpected argument"},
	} {
		code, _, stderr := run(t, env, tc.args...)
		require.Equal(t, 2, code, "%v: %s", tc.args, stderr)
		require.Contains(t, stderr, tc.want, "%v", tc.args)
	}
}

// TestUIServes runs `dispatcher ui` on all interfaces with a token and
// actions on: requests need the token, the pool shows with its pause
// state, and cancel through the console ends the task with its reason.
func TestUIServes(t *testing.T) {
	env := storeEnv(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("tok-123\n"), 0o600))
	file := filepath.Join(t.TempDir(), "tasks.json")
	require.NoError(t, os.WriteFile(file, []byte(`[{"kind":"noop","def":{"a":1}}]`), 0o644))
	code, out, errOut := run(t, env, "create", "--pool", "p", "-f", file)
	require.Equal(t, 0, code, errOut)
	id := strings.TrimSpace(out)
	code, _, errOut = run(t, env, "pause", "--pool", "p", "--reason", "maintenance")
	require.Equal(t, 0, code, errOut)

	ctx, cancel := context.WithCancel(context.Background())
	var stderr fleettest.SyncBuffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr, Getenv: func(k string) string { return env[k] }}
	done := make(chan int, 1)
	go func() {
		done <- m.Run(ctx, []string{"ui", "--listen", "0.0.0.0:0", "--token-file", tokenFile, "--allow-actions"})
	}()
	var base string
	fleettest.Eventually(t, 20*time.Second, func() error {
		_, rest, ok := strings.Cut(stderr.String(), "console at http://")
		if !ok {
			return io.ErrNoProgress
		}
		addr, _, _ := strings.Cut(rest, "/")
		base = "http://" + strings.Replace(addr, "[::]", "127.0.0.1", 1)
		return nil
	})
	require.Contains(t, stderr.String(), "(actions allowed)")
	require.NotContains(t, stderr.String(), "tok-123", "the token is never printed")

	get := func(path string, headers ...string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		require.NoError(t, err)
		for _, h := range headers {
			k, v, _ := strings.Cut(h, ": ")
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, _ = get("/api/pools")
	require.Equal(t, http.StatusUnauthorized, code)
	code, body := get("/api/pools", "Authorization: Bearer tok-123")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"name":"p"`)
	require.Contains(t, body, `"paused":true`)
	code, body = get("/api/pools/p/tasks/"+id, "Authorization: Bearer tok-123")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"def":{"a":1}`)

	// Cancel through the adapter.
	code, _ = get("/api/config", "Authorization: Bearer tok-123")
	require.Equal(t, http.StatusOK, code)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/pools/p/actions/cancel", strings.NewReader(`{"ids":["`+id+`"],"reason":"wrong data"}`))
	require.NoError(t, err)
	csrf := csrfToken(ctx, t, base)
	req.Header.Set("Authorization", "Bearer tok-123")
	req.Header.Set("Cookie", ui.CSRFCookie+"="+csrf)
	req.Header.Set(ui.CSRFHeader, csrf)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	code, body = get("/api/pools/p/tasks/"+id, "Authorization: Bearer tok-123")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"status":"failed"`)
	require.Contains(t, body, "cancelled: wrong data")

	cancel()
	select {
	case code := <-done:
		require.Equal(t, 0, code, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("ui did not stop on cancel")
	}
}

func csrfToken(ctx context.Context, t *testing.T, base string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/config", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer tok-123")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == ui.CSRFCookie {
			return c.Value
		}
	}
	t.Fatal("no CSRF cookie")
	return ""
}
