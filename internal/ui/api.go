package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// Bounds of what a request may ask for.
const (
	defaultPage = 50
	maxPage     = 500
	maxParam    = 1024     // bytes of one query parameter
	maxIDs      = 1000     // ids of one action
	maxLogTail  = 64 << 10 // bytes of log shown in the task view
)

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// fail answers err with the status its kind calls for.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, taskstate.ErrNotFound), errors.Is(err, taskstate.ErrArtifactNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrNotSupported):
		code = http.StatusNotImplemented
	case errors.Is(err, errBadRequest), errors.Is(err, taskstate.ErrInvalidQuery), errors.Is(err, taskstate.ErrInvalidPool),
		errors.Is(err, taskstate.ErrEmptyQuery), errors.Is(err, taskstate.ErrInvalidStatus):
		code = http.StatusBadRequest
	}
	if code == http.StatusInternalServerError {
		s.cfg.Logger.Warn("ui: request failed", zap.String("path", r.URL.Path), zap.Error(err))
	}
	writeError(w, code, err.Error())
}

var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

func (s *Server) pool(r *http.Request) (Pool, error) {
	return s.cfg.Backend.Pool(r.PathValue("pool"))
}

func (s *Server) apiConfig(w http.ResponseWriter, _ *http.Request) {
	s.setCSRF(w)
	writeJSON(w, http.StatusOK, map[string]any{
		"allow_actions": s.cfg.AllowActions,
		"live":          s.cfg.History != nil,
		"refresh_ms":    s.cfg.Refresh.Milliseconds(),
		"feed_window_s": int(s.cfg.FeedWindow.Seconds()),
	})
}

// poolJSON is one pool in GET /api/pools.
type poolJSON struct {
	Name   string           `json:"name"`
	Counts taskstate.Counts `json:"counts"`
	Total  int              `json:"total"`
	// ThroughputPerMin is tasks finished (done or failed) per minute over
	// the throughput window, from the counts the console sampled; null
	// until two samples span a few seconds.
	ThroughputPerMin *float64 `json:"throughput_per_min"`
	// FailureRate is failed / (done + failed); null before any finished.
	FailureRate *float64 `json:"failure_rate"`
	// Paused is Pool.Paused; null when this build cannot tell.
	Paused *bool `json:"paused"`
}

func (s *Server) apiPools(w http.ResponseWriter, r *http.Request) {
	names, err := s.cfg.Backend.ListPools(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]poolJSON, 0, len(names))
	for _, name := range names {
		pj, err := s.poolState(r, name)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out = append(out, pj)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) poolState(r *http.Request, name string) (poolJSON, error) {
	p, err := s.cfg.Backend.Pool(name)
	if err != nil {
		return poolJSON{}, err
	}
	c, err := p.Stat(r.Context(), taskstate.Query{})
	if err != nil {
		return poolJSON{}, err
	}
	pj := poolJSON{Name: name, Counts: c, Total: c.Total(), ThroughputPerMin: s.throughput(name, c)}
	if fin := c[taskstate.StatusDone] + c[taskstate.StatusFailed]; fin > 0 {
		fr := float64(c[taskstate.StatusFailed]) / float64(fin)
		pj.FailureRate = &fr
	}
	paused, err := p.Paused(r.Context())
	switch {
	case err == nil:
		pj.Paused = &paused
	case !errors.Is(err, ErrNotSupported):
		return poolJSON{}, err
	}
	return pj, nil
}

// taskJSON is a task in the API; Def, Res, Logs and Artifacts only in the
// task view.
type taskJSON struct {
	ID          string           `json:"id"`
	Kind        string           `json:"kind"`
	Status      taskstate.Status `json:"status"`
	Priority    int              `json:"priority"`
	Seq         int64            `json:"seq"`
	Attempts    int              `json:"attempts"`
	MaxAttempts int              `json:"max_attempts"`
	LastError   string           `json:"last_error,omitempty"`
	Owner       string           `json:"owner,omitempty"`
	LeaseUntil  *time.Time       `json:"lease_until,omitempty"`
	ClaimedFrom taskstate.Status `json:"claimed_from,omitempty"`
	RunAfter    *time.Time       `json:"run_after,omitempty"`
	CreatedAt   *time.Time       `json:"created_at,omitempty"`
	UpdatedAt   *time.Time       `json:"updated_at,omitempty"`
	StartedAt   *time.Time       `json:"started_at,omitempty"`
	FinishedAt  *time.Time       `json:"finished_at,omitempty"`
	Filter      map[string]any   `json:"filter,omitempty"`
	Def         any              `json:"def,omitempty"`
	Res         any              `json:"res,omitempty"`
	Logs        []logJSON        `json:"logs,omitempty"`
	Artifacts   []artifactJSON   `json:"artifacts,omitempty"`
}

type logJSON struct {
	Phase     taskstate.Status `json:"phase"`
	Attempt   int              `json:"attempt"`
	Total     int64            `json:"total"`
	Tail      string           `json:"tail"`
	UpdatedAt time.Time        `json:"updated_at"`
}

type artifactJSON struct {
	Name      string    `json:"name"`
	Size      int64     `json:"size"`
	SHA256    string    `json:"sha256"`
	Attempt   int       `json:"attempt"`
	CreatedAt time.Time `json:"created_at"`
}

func ts(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toJSON(t *taskstate.Task) taskJSON {
	return taskJSON{ID: t.ID, Kind: t.Kind, Status: t.Status, Priority: t.Priority, Seq: t.Seq,
		Attempts: t.Attempts, MaxAttempts: t.MaxAttempts, LastError: t.LastError,
		Owner: t.Lease.Owner, LeaseUntil: ts(t.Lease.Until), ClaimedFrom: t.ClaimedFrom, RunAfter: ts(t.RunAfter),
		CreatedAt: ts(t.CreatedAt), UpdatedAt: ts(t.UpdatedAt), StartedAt: ts(t.StartedAt), FinishedAt: ts(t.FinishedAt),
		Filter: t.Filter}
}

// listQuery turns the list parameters into a query: status, kind, id, a
// dotted def path with its value (JSON, or a string when it is not JSON),
// sort (asc or desc creation order) and the keyset cursor after (the seq
// of the last task of the previous page).
func listQuery(r *http.Request) (taskstate.Query, taskstate.QueryOptions, error) {
	v := r.URL.Query()
	var q taskstate.Query
	opts := taskstate.QueryOptions{Limit: defaultPage}
	for k, vals := range v {
		if len(vals) > 1 || len(vals[0]) > maxParam {
			return q, opts, badRequest("parameter %s: give it once, at most %d bytes", k, maxParam)
		}
	}
	if st := v.Get("status"); st != "" {
		if _, err := taskstate.ParseStatus(st); err != nil {
			return q, opts, badRequest("status: %v", err)
		}
		q = q.Where(taskstate.FieldStatus, taskstate.OpEq, st)
	}
	if k := v.Get("kind"); k != "" {
		q = q.Where(taskstate.FieldKind, taskstate.OpEq, k)
	}
	if id := v.Get("id"); id != "" {
		if !taskstate.ValidID(id) {
			return q, opts, badRequest("id: %q: want 24 hex digits", id)
		}
		q = q.Where(taskstate.FieldID, taskstate.OpEq, id)
	}
	if path := v.Get("path"); path != "" {
		var val any
		raw := v.Get("value")
		if err := json.Unmarshal([]byte(raw), &val); err != nil {
			val = raw
		}
		q = q.Where("filter."+strings.TrimPrefix(path, "filter."), taskstate.OpEq, val)
	}
	switch v.Get("sort") {
	case "", "asc":
	case "desc":
		opts.Desc = true
	default:
		return q, opts, badRequest("sort: %q: want asc or desc", v.Get("sort"))
	}
	if a := v.Get("after"); a != "" {
		seq, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			return q, opts, badRequest("after: %q: want a task's seq", a)
		}
		op := taskstate.OpGt
		if opts.Desc {
			op = taskstate.OpLt
		}
		q = q.Where(taskstate.FieldSeq, op, seq)
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxPage {
			return q, opts, badRequest("limit: %q: want 1 to %d", l, maxPage)
		}
		opts.Limit = n
	}
	return q, opts, q.Validate()
}

func (s *Server) apiTasks(w http.ResponseWriter, r *http.Request) {
	p, err := s.pool(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q, opts, err := listQuery(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// One more than the page tells whether there is a next one.
	want := opts.Limit
	opts.Limit++
	tasks := make([]taskJSON, 0, want)
	var next *string
	for t, err := range p.Query(r.Context(), q, opts) {
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if len(tasks) == want {
			c := strconv.FormatInt(tasks[want-1].Seq, 10)
			next = &c
			break
		}
		tasks = append(tasks, toJSON(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tasks": tasks, "next": next})
}

// task returns the task named by the path, or answers the error.
func (s *Server) task(w http.ResponseWriter, r *http.Request) (Pool, *taskstate.Task, bool) {
	p, err := s.pool(r)
	if err == nil {
		var t *taskstate.Task
		if t, err = p.Get(r.Context(), r.PathValue("id")); err == nil {
			return p, t, true
		}
	}
	s.fail(w, r, err)
	return nil, nil, false
}

func (s *Server) apiTask(w http.ResponseWriter, r *http.Request) {
	p, t, ok := s.task(w, r)
	if !ok {
		return
	}
	out := toJSON(t)
	out.Def = decoded(p.DecodeDef, t, t.Def)
	out.Res = decoded(p.DecodeRes, t, t.Res)
	logs, err := p.Logs(r.Context(), t.ID, "", 0)
	if err != nil && !errors.Is(err, taskstate.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	for _, l := range logs {
		tail := l.Tail[max(0, len(l.Tail)-maxLogTail):]
		out.Logs = append(out.Logs, logJSON{Phase: l.Phase, Attempt: l.Attempt, Total: l.Total,
			Tail: strings.ToValidUTF8(string(tail), "\uFFFD"), UpdatedAt: l.UpdatedAt})
	}
	arts, err := p.Artifacts(r.Context(), t.ID)
	if err != nil && !errors.Is(err, taskstate.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	for _, a := range arts {
		out.Artifacts = append(out.Artifacts, artifactJSON{Name: a.Name, Size: a.Size, SHA256: a.SHA256, Attempt: a.Attempt, CreatedAt: a.CreatedAt})
	}
	writeJSON(w, http.StatusOK, out)
}

// decoded is a payload as JSON: the decoded value when it has a JSON form,
// its Go syntax otherwise, an error note when it does not decode.
func decoded(decode func(*taskstate.Task) (any, error), t *taskstate.Task, raw []byte) any {
	if len(raw) == 0 {
		return nil
	}
	v, err := decode(t)
	if err != nil {
		return map[string]string{"error": err.Error()}
	}
	if _, err := json.Marshal(v); err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return v
}

// apiLog serves the latest kept output of the task as text.
func (s *Server) apiLog(w http.ResponseWriter, r *http.Request) {
	p, t, ok := s.task(w, r)
	if !ok {
		return
	}
	logs, err := p.Logs(r.Context(), t.ID, "", 0)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.log"`, t.ID))
	if len(logs) > 0 {
		_, _ = w.Write(logs[len(logs)-1].Tail)
	}
}

func (s *Server) apiArtifact(w http.ResponseWriter, r *http.Request) {
	p, t, ok := s.task(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if err := taskstate.ValidateArtifactName(name); err != nil {
		s.fail(w, r, badRequest("artifact name: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", "attachment; filename="+strconv.Quote(name))
	// Headers go out with the first byte: an error before it is answered,
	// one after it cuts the download short.
	if _, err := p.CopyArtifact(r.Context(), t.ID, name, w); err != nil {
		w.Header().Del("Content-Disposition")
		s.fail(w, r, err)
	}
}

// actionBody is the body of an action: the tasks by id, with the
// priority of prioritize and the reason of cancel.
type actionBody struct {
	IDs      []string `json:"ids"`
	Priority *int     `json:"priority"`
	Reason   string   `json:"reason"`
}

func (s *Server) apiAction(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.AllowActions {
		s.refuse(w, r, http.StatusForbidden, "read-only console: start `dispatcher ui` with --allow-actions")
		return
	}
	p, err := s.pool(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var b actionBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		s.fail(w, r, badRequest("body: %v", err))
		return
	}
	if len(b.IDs) == 0 || len(b.IDs) > maxIDs {
		s.fail(w, r, badRequest("ids: give 1 to %d task ids", maxIDs))
		return
	}
	for i, id := range b.IDs {
		if !taskstate.ValidID(id) {
			s.fail(w, r, badRequest("ids[%d]: %q: want 24 hex digits", i, id))
			return
		}
	}
	q := taskstate.ByIDs(b.IDs...)
	var n int64
	switch a := r.PathValue("action"); a {
	case "retry":
		n, err = p.RetryFailed(r.Context(), q)
	case "cancel":
		reason := b.Reason
		if reason == "" {
			reason = "from the console"
		}
		n, err = p.Cancel(r.Context(), q, reason)
	case "prioritize":
		if b.Priority == nil {
			err = badRequest("priority: required")
			break
		}
		n, err = p.Prioritize(r.Context(), q, *b.Priority)
	case "remove":
		n, err = p.Remove(r.Context(), q)
	default:
		err = fmt.Errorf("%w: unknown action %q (want retry, cancel, prioritize or remove)", taskstate.ErrNotFound, a)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.cfg.Logger.Info("ui: action", zap.String("pool", r.PathValue("pool")), zap.String("action", r.PathValue("action")), zap.Int64("matched", n))
	writeJSON(w, http.StatusOK, map[string]int64{"matched": n})
}
