package ui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// sample is the number of finished tasks of a pool at a time.
type sample struct {
	at       time.Time
	finished int
}

// maxSamples bounds the samples kept per pool, whatever the request rate.
const maxSamples = 256

// throughput records the pool's finished count and returns tasks finished
// per minute since the oldest sample within the window, or nil when the
// samples span under 2 s. A count that went down (tasks removed or
// retried) starts the measure over.
func (s *Server) throughput(pool string, c taskstate.Counts) *float64 {
	now := s.cfg.Now()
	fin := c[taskstate.StatusDone] + c[taskstate.StatusFailed]
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.samples[pool]
	if len(ss) > 0 && fin < ss[len(ss)-1].finished {
		ss = ss[:0]
	}
	for len(ss) > 0 && (now.Sub(ss[0].at) > s.cfg.ThroughputWindow || len(ss) >= maxSamples) {
		ss = ss[1:]
	}
	ss = append(ss, sample{at: now, finished: fin})
	s.samples[pool] = ss
	span := now.Sub(ss[0].at)
	if span < 2*time.Second {
		return nil
	}
	v := float64(fin-ss[0].finished) / span.Minutes()
	return &v
}

// eventJSON is one event of the feed.
type eventJSON struct {
	Seq   uint64          `json:"seq"`
	Time  time.Time       `json:"time"`
	Event taskstate.Event `json:"event"`
	N     int             `json:"n"`
	IDs   []string        `json:"ids,omitempty"`
}

// apiEvents streams the pool's events as server-sent events: the feed
// window's history first, then live ones. Each carries its stream sequence
// as the SSE id; a reconnecting browser sends it back (Last-Event-ID) and
// the feed goes on after it. Without a history it answers 204, which tells
// EventSource to stop; the page then refreshes on a timer.
func (s *Server) apiEvents(w http.ResponseWriter, r *http.Request) {
	pool := r.PathValue("pool")
	if err := taskstate.ValidatePool(pool); err != nil {
		s.fail(w, r, err)
		return
	}
	if s.cfg.History == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	var last uint64
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		_, _ = fmt.Sscan(id, &last)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// A comment line opens the stream at once, before any event.
	_, _ = fmt.Fprint(w, ": feed\n\n")
	fl.Flush()
	p := events.HistoryParams{Pool: pool, Since: s.cfg.Now().Add(-s.cfg.FeedWindow), Follow: true}
	err := s.cfg.History.History(r.Context(), p, func(rec events.Record) error {
		if rec.Seq <= last {
			return nil
		}
		b, _ := json.Marshal(eventJSON{Seq: rec.Seq, Time: rec.Time, Event: rec.Event, N: rec.N, IDs: rec.IDs})
		if _, err := fmt.Fprintf(w, "id: %d\ndata: %s\n\n", rec.Seq, b); err != nil {
			return err
		}
		fl.Flush()
		return nil
	})
	if err != nil && r.Context().Err() == nil {
		// The stream is already open: say it as an event and let the
		// browser reconnect.
		b, _ := json.Marshal(map[string]string{"error": err.Error()})
		_, _ = fmt.Fprintf(w, "event: error\ndata: %s\n\n", b)
		fl.Flush()
	}
}
