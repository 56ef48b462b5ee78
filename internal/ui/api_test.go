package ui_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/ui"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(body), &v), body)
	return v
}

type poolOut struct {
	Name        string         `json:"name"`
	Counts      map[string]int `json:"counts"`
	Total       int            `json:"total"`
	FailureRate *float64       `json:"failure_rate"`
	Throughput  *float64       `json:"throughput_per_min"`
	Paused      *bool          `json:"paused"`
}

type taskOut struct {
	ID         string         `json:"id"`
	Kind       string         `json:"kind"`
	Status     string         `json:"status"`
	Seq        int64          `json:"seq"`
	Priority   int            `json:"priority"`
	Attempts   int            `json:"attempts"`
	LastError  string         `json:"last_error"`
	Owner      string         `json:"owner"`
	LeaseUntil *string        `json:"lease_until"`
	CreatedAt  *string        `json:"created_at"`
	Def        map[string]any `json:"def"`
	Res        map[string]any `json:"res"`
	Logs       []struct {
		Tail string `json:"tail"`
	} `json:"logs"`
	Artifacts []struct {
		Name string `json:"name"`
		Size int64  `json:"size"`
	} `json:"artifacts"`
}

type pageOut struct {
	Tasks []taskOut `json:"tasks"`
	Next  *string   `json:"next"`
}

func TestIndexAndAssets(t *testing.T) {
	t.Parallel()
	c := serve(t, ui.Config{Backend: newBackend(t)})
	code, body := c.do(http.MethodGet, "/", "")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `<script src="/static/app.js"`)
	c.csrf() // the page's config call sets a SameSite=Strict cookie
	for _, asset := range []string{"/static/app.js", "/static/style.css"} {
		code, body := c.do(http.MethodGet, asset, "")
		require.Equal(t, http.StatusOK, code, asset)
		require.NotEmpty(t, body, asset)
	}
	code, _ = c.do(http.MethodGet, "/static/nope.js", "")
	require.Equal(t, http.StatusNotFound, code)
	code, body = c.do(http.MethodGet, "/api/config", "")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"allow_actions":false,"live":false,"refresh_ms":5000,"feed_window_s":3600}`, body)
}

func TestPools(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	seed(t, b, "alpha", 12)
	seed(t, b, "beta", 10)
	c := serve(t, ui.Config{Backend: b})
	code, body := c.do(http.MethodGet, "/api/pools", "")
	require.Equal(t, http.StatusOK, code, body)
	pools := decode[[]poolOut](t, body)
	require.Len(t, pools, 2)
	a := pools[0]
	require.Equal(t, "alpha", a.Name)
	require.Equal(t, map[string]int{"waiting": 3, "running": 2, "part_done": 0, "done": 4, "failed": 3}, a.Counts)
	require.Equal(t, 12, a.Total)
	require.NotNil(t, a.FailureRate)
	require.InDelta(t, 3.0/7, *a.FailureRate, 1e-9)
	require.Nil(t, a.Paused, "a build without pause says null, not false")
	require.Nil(t, a.Throughput, "one sample measures no throughput")

	b.paused = map[string]bool{"beta": true}
	_, body = c.do(http.MethodGet, "/api/pools", "")
	pools = decode[[]poolOut](t, body)
	require.False(t, *pools[0].Paused)
	require.True(t, *pools[1].Paused)
}

func TestThroughput(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	f := seed(t, b, "p", 12)
	clock := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	c := serve(t, ui.Config{Backend: b, Now: func() time.Time { return clock }})
	c.do(http.MethodGet, "/api/pools", "")
	// Two tasks finish over the next 30 s: 4 per minute.
	tasks, err := f.m.Claim(t.Context(), taskstate.ClaimOptions{Limit: 2})
	require.NoError(t, err)
	for _, tk := range tasks {
		require.NoError(t, f.m.Commit(t.Context(), tk, 1, taskstate.StatusDone))
	}
	clock = clock.Add(30 * time.Second)
	_, body := c.do(http.MethodGet, "/api/pools", "")
	pools := decode[[]poolOut](t, body)
	require.NotNil(t, pools[0].Throughput)
	require.InDelta(t, 4.0, *pools[0].Throughput, 1e-9)
}

func TestTasksFilterSortAndKeyset(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	seed(t, b, "p", 125)
	f := seed(t, b, "other", 10)
	c := serve(t, ui.Config{Backend: b})
	page := func(query string) pageOut {
		t.Helper()
		code, body := c.do(http.MethodGet, "/api/pools/p/tasks?"+query, "")
		require.Equal(t, http.StatusOK, code, body)
		return decode[pageOut](t, body)
	}

	for _, sort := range []string{"asc", "desc"} {
		var seen []int64
		after := ""
		for range 10 {
			q := "limit=50&sort=" + sort
			if after != "" {
				q += "&after=" + after
			}
			pg := page(q)
			for _, tk := range pg.Tasks {
				seen = append(seen, tk.Seq)
			}
			if pg.Next == nil {
				break
			}
			require.Equal(t, strconv.FormatInt(pg.Tasks[len(pg.Tasks)-1].Seq, 10), *pg.Next)
			after = *pg.Next
		}
		require.Len(t, seen, 125, sort)
		for i := 1; i < len(seen); i++ {
			if sort == "asc" {
				require.Less(t, seen[i-1], seen[i])
			} else {
				require.Greater(t, seen[i-1], seen[i])
			}
		}
	}

	failed := page("status=failed")
	require.Len(t, failed.Tasks, 3)
	for _, tk := range failed.Tasks {
		require.Equal(t, "failed", tk.Status)
		require.Contains(t, tk.LastError, "singular matrix")
		require.Nil(t, tk.Def, "the list reads no payloads")
	}
	require.Len(t, page("path=model.class&value=Ridge").Tasks, 50)
	require.Len(t, page("path=model.class&value=Ridge&limit=500").Tasks, 62)
	require.Len(t, page("path=i&value=7").Tasks, 1, "a JSON value matches a number")
	require.Len(t, page("kind=train&status=running").Tasks, 2)
	require.Empty(t, page("kind=nope").Tasks)
	one := page("id=" + failed.Tasks[0].ID)
	require.Len(t, one.Tasks, 1)
	require.Empty(t, page("id="+f.ids[taskstate.StatusDone][0]).Tasks, "another pool's task is not listed")

	for _, bad := range []string{"status=bogus", "limit=0", "limit=501", "after=x", "sort=up", "id=12", "path=a..b&value=1", "status=done&status=failed", "kind=" + strings.Repeat("k", 2000)} {
		code, body := c.do(http.MethodGet, "/api/pools/p/tasks?"+bad, "")
		require.Equal(t, http.StatusBadRequest, code, bad)
		require.Contains(t, body, `"error"`, bad)
	}
	code, _ := c.do(http.MethodGet, "/api/pools/bad.pool/tasks", "")
	require.Equal(t, http.StatusBadRequest, code)
}

func TestTaskView(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	f := seed(t, b, "p", 10)
	c := serve(t, ui.Config{Backend: b})
	get := func(id string) taskOut {
		t.Helper()
		code, body := c.do(http.MethodGet, "/api/pools/p/tasks/"+id, "")
		require.Equal(t, http.StatusOK, code, body)
		return decode[taskOut](t, body)
	}
	done := get(f.ids[taskstate.StatusDone][0])
	require.Equal(t, "done", done.Status)
	require.Equal(t, map[string]any{"class": "Linear"}, done.Def["model"])
	require.Equal(t, map[string]any{"ic": 0.05}, done.Res)
	require.Len(t, done.Logs, 1)
	require.Equal(t, "epoch 1 ok\n", done.Logs[0].Tail)
	require.Len(t, done.Artifacts, 1)
	require.Equal(t, "pred.csv", done.Artifacts[0].Name)
	require.NotNil(t, done.CreatedAt)

	running := get(f.ids[taskstate.StatusRunning][0])
	require.Equal(t, "host-a:42/w1", running.Owner)
	require.NotNil(t, running.LeaseUntil)
	require.Equal(t, 1, running.Attempts)
	require.Nil(t, running.Res)

	failed := get(f.ids[taskstate.StatusFailed][0])
	require.Contains(t, failed.LastError, "ValueError: singular matrix")

	code, body := c.do(http.MethodGet, "/api/pools/p/tasks/"+done.ID+"/artifacts/pred.csv", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "date,score\n", body)
	code, body = c.do(http.MethodGet, "/api/pools/p/tasks/"+done.ID+"/log", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "epoch 1 ok\n", body)

	for path, want := range map[string]int{
		"/api/pools/p/tasks/" + strings.Repeat("0", 24):             http.StatusNotFound,
		"/api/pools/p/tasks/xyz":                                    http.StatusNotFound,
		"/api/pools/other/tasks/" + done.ID:                         http.StatusNotFound,
		"/api/pools/p/tasks/" + done.ID + "/artifacts/missing.csv":  http.StatusNotFound,
		"/api/pools/p/tasks/" + done.ID + "/artifacts/..%2Fetc":     http.StatusBadRequest,
		"/api/pools/p/tasks/" + failed.ID + "/artifacts/pred.csv":   http.StatusNotFound,
		"/api/pools/p/tasks/" + strings.Repeat("0", 24) + "/log":    http.StatusNotFound,
		"/api/pools/p/tasks/" + strings.Repeat("0", 24) + "/events": http.StatusNotFound,
	} {
		code, _ := c.do(http.MethodGet, path, "")
		require.Equal(t, want, code, path)
	}
}
