package ui_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/ui"
	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/events/eventstest"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

type feedEvent struct {
	Seq   uint64   `json:"seq"`
	Event string   `json:"event"`
	N     int      `json:"n"`
	IDs   []string `json:"ids"`
}

// sse reads the data lines of a server-sent event stream.
func sse(t *testing.T, c *client, path string, headers ...string) (<-chan feedEvent, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url+path, nil)
	require.NoError(t, err)
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req) //nolint:bodyclose // the reading goroutine closes it
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	ch := make(chan feedEvent, 100)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var ev feedEvent
				if json.Unmarshal([]byte(data), &ev) == nil {
					ch <- ev
				}
			}
		}
		close(ch)
	}()
	return ch, cancel
}

func next(t *testing.T, ch <-chan feedEvent) feedEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		require.True(t, ok, "the stream ended")
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
		return feedEvent{}
	}
}

func TestEventsWithoutNATS(t *testing.T) {
	t.Parallel()
	c := serve(t, ui.Config{Backend: newBackend(t)})
	code, _ := c.do(http.MethodGet, "/api/pools/p/events", "")
	require.Equal(t, http.StatusNoContent, code, "204 stops EventSource; the page polls")
}

func TestEventsFeed(t *testing.T) {
	t.Parallel()
	srv := eventstest.Server(t, events.EmbeddedConfig{})
	conn := eventstest.Connect(t, srv, events.Config{MemoryStorage: true})
	b := newBackend(t)
	b.notifier = conn.Notifier()
	f := seed(t, b, "p", 10) // history: created, committed ×4, failed ×3
	c := serve(t, ui.Config{Backend: b, History: conn})

	feed, stop := sse(t, c, "/api/pools/p/events")
	first := next(t, feed)
	require.Equal(t, "created", first.Event)
	require.Equal(t, 10, first.N)
	require.Len(t, first.IDs, 10)
	var kinds []string
	for range 7 {
		kinds = append(kinds, next(t, feed).Event)
	}
	require.Equal(t, []string{"committed", "committed", "committed", "committed", "failed", "failed", "failed"}, kinds)

	// A live one: the retry of a failed task makes it available.
	id := f.ids[taskstate.StatusFailed][0]
	_, err := f.m.RetryFailed(t.Context(), taskstate.ByIDs(id))
	require.NoError(t, err)
	live := next(t, feed)
	require.Equal(t, "available", live.Event)
	require.Equal(t, 1, live.N)
	stop()

	// A browser that reconnects with Last-Event-ID gets only what follows.
	again, stop2 := sse(t, c, "/api/pools/p/events", "Last-Event-ID: "+itoa(live.Seq-1))
	defer stop2()
	require.Equal(t, live.Seq, next(t, again).Seq)
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
