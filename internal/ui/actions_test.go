package ui_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/ui"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func TestActionsReadOnly(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	f := seed(t, b, "p", 10)
	c := serve(t, ui.Config{Backend: b})
	id := f.ids[taskstate.StatusFailed][0]
	for _, a := range []string{"retry", "cancel", "prioritize", "remove"} {
		code, body := c.action("p", a, `{"ids":["`+id+`"],"priority":5}`)
		require.Equal(t, http.StatusForbidden, code, a)
		require.Contains(t, body, "--allow-actions", a)
	}
	tk, err := f.m.Get(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, taskstate.StatusFailed, tk.Status, "nothing changed")
}

func TestActions(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	f := seed(t, b, "p", 10)
	c := serve(t, ui.Config{Backend: b, AllowActions: true})
	ctx := t.Context()
	status := func(id string) taskstate.Status {
		t.Helper()
		tk, err := f.m.Get(ctx, id)
		if errors.Is(err, taskstate.ErrNotFound) {
			return "removed"
		}
		require.NoError(t, err)
		return tk.Status
	}
	failed, done := f.ids[taskstate.StatusFailed], f.ids[taskstate.StatusDone]

	code, body := c.action("p", "retry", `{"ids":["`+failed[0]+`","`+done[0]+`"]}`)
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"matched":1}`, body, "retry touches only the failed one")
	require.Equal(t, taskstate.StatusWaiting, status(failed[0]))
	require.Equal(t, taskstate.StatusDone, status(done[0]))

	code, body = c.action("p", "prioritize", `{"ids":["`+done[1]+`"],"priority":7}`)
	require.Equal(t, http.StatusOK, code, body)
	tk, err := f.m.Get(ctx, done[1])
	require.NoError(t, err)
	require.Equal(t, 7, tk.Priority)

	code, body = c.action("p", "remove", `{"ids":["`+done[2]+`"]}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, taskstate.Status("removed"), status(done[2]))

	code, body = c.action("p", "cancel", `{"ids":["`+failed[1]+`"],"reason":"stop"}`)
	require.Equal(t, http.StatusNotImplemented, code, body)
	require.Contains(t, body, "not available in this build")

	for body, want := range map[string]int{
		`{"ids":[]}`:                        http.StatusBadRequest,
		`{"ids":["zz"]}`:                    http.StatusBadRequest,
		`{"ids":["` + done[1] + `"],"x":1}`: http.StatusBadRequest,
		`not json`:                          http.StatusBadRequest,
		`{"ids":["` + done[1] + `"]}`:       http.StatusBadRequest, // prioritize without a priority
		`{"ids":["` + strings.Repeat(done[1]+`","`, 3000) + done[1] + `"]}`: http.StatusBadRequest,
	} {
		code, _ := c.action("p", "prioritize", body)
		require.Equal(t, want, code, body[:min(len(body), 60)])
	}
	code, _ = c.action("p", "explode", `{"ids":["`+done[1]+`"]}`)
	require.Equal(t, http.StatusNotFound, code)
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	f := seed(t, b, "p", 10)
	c := serve(t, ui.Config{Backend: b, AllowActions: true})
	tok := c.csrf()
	path := "/api/pools/p/actions/retry"
	body := `{"ids":["` + f.ids[taskstate.StatusFailed][0] + `"]}`
	host, _ := url.Parse(c.url)
	for name, headers := range map[string][]string{
		"no token":            nil,
		"cookie only":         {"Cookie: " + ui.CSRFCookie + "=" + tok},
		"header only":         {ui.CSRFHeader + ": " + tok},
		"wrong token":         {"Cookie: " + ui.CSRFCookie + "=x" + tok[1:], ui.CSRFHeader + ": x" + tok[1:]},
		"cross-site origin":   {"Cookie: " + ui.CSRFCookie + "=" + tok, ui.CSRFHeader + ": " + tok, "Origin: https://evil.example"},
		"cross-site fetch":    {"Cookie: " + ui.CSRFCookie + "=" + tok, ui.CSRFHeader + ": " + tok, "Sec-Fetch-Site: cross-site"},
		"other port, same ip": {"Cookie: " + ui.CSRFCookie + "=" + tok, ui.CSRFHeader + ": " + tok, "Origin: http://" + host.Hostname() + ":1"},
	} {
		code, resp := c.do(http.MethodPost, path, body, headers...)
		require.Equal(t, http.StatusForbidden, code, name)
		require.Contains(t, resp, "refused", name)
	}
	tk, err := f.m.Get(t.Context(), f.ids[taskstate.StatusFailed][0])
	require.NoError(t, err)
	require.Equal(t, taskstate.StatusFailed, tk.Status, "no refused request changed the task")

	code, _ := c.do(http.MethodPost, path, body, "Cookie: "+ui.CSRFCookie+"="+tok, ui.CSRFHeader+": "+tok, "Origin: "+c.url, "Sec-Fetch-Site: same-origin")
	require.Equal(t, http.StatusOK, code, "the page's own request passes")
}

func TestToken(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	seed(t, b, "p", 10)
	c := serve(t, ui.Config{Backend: b, Token: "s3cret-token"})
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	code, _ := c.do(http.MethodGet, "/api/pools", "")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = c.do(http.MethodGet, "/api/pools", "", "Authorization: Bearer wrong")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = c.do(http.MethodGet, "/api/pools/p/events", "")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = c.do(http.MethodGet, "/", "")
	require.Equal(t, http.StatusSeeOther, code, "the page sends a browser to the login form")
	code, body := c.do(http.MethodGet, "/login", "")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `name="token"`)
	code, _ = c.do(http.MethodGet, "/api/pools", "", "Authorization: Bearer s3cret-token")
	require.Equal(t, http.StatusOK, code)

	form := "Content-Type: application/x-www-form-urlencoded"
	code, _ = c.do(http.MethodPost, "/login", "token=wrong", form)
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = c.do(http.MethodPost, "/login", "token=s3cret-token", form, "Origin: https://evil.example")
	require.Equal(t, http.StatusForbidden, code, "a cross-site login is refused")

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, c.url+"/login", strings.NewReader("token=s3cret-token"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.hc.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == ui.SessionCookie {
			session = ck
		}
	}
	require.NotNil(t, session)
	require.True(t, session.HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, session.SameSite)
	require.NotContains(t, session.Value, "s3cret", "the cookie does not carry the token")
	code, _ = c.do(http.MethodGet, "/api/pools", "", "Cookie: "+ui.SessionCookie+"="+session.Value)
	require.Equal(t, http.StatusOK, code)
	code, _ = c.do(http.MethodGet, "/api/pools", "", "Cookie: "+ui.SessionCookie+"=forged")
	require.Equal(t, http.StatusUnauthorized, code)
}

func TestCheckListen(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{
		"127.0.0.1:8080": true,
		"localhost:0":    true,
		"[::1]:8080":     true,
		"127.1.2.3:80":   true,
		"0.0.0.0:8080":   false,
		":8080":          false,
		"10.0.0.5:8080":  false,
		"[::]:8080":      false,
	} {
		err := ui.CheckListen(addr, false)
		if ok {
			require.NoError(t, err, addr)
			continue
		}
		require.ErrorIs(t, err, ui.ErrTokenRequired, addr)
		require.NoError(t, ui.CheckListen(addr, true), addr)
	}
	require.Error(t, ui.CheckListen("8080", true), "a port alone is not an address")
}
