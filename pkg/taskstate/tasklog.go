package taskstate

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNoLogs is returned by a Manager whose store keeps no task logs.
var ErrNoLogs = errors.New("taskstate: this store keeps no task logs")

// Log tail bounds.
const (
	// DefaultMaxLog is the default size of the tail of a task's output
	// that is kept per attempt: 1 MiB.
	DefaultMaxLog = 1 << 20
	// MaxLogLimit is the largest tail a store keeps per attempt, 8 MiB:
	// a MongoDB document holds at most 16 MiB.
	MaxLogLimit = 8 << 20
)

// TaskLog is the kept output of one attempt of a task: the last bytes a
// program wrote to stdout and stderr.
//
// Attempts are counted per phase, so an attempt is named by its phase and
// its number: phase two's first attempt does not replace phase one's.
type TaskLog struct {
	ID string // the task
	// Phase is the status the attempt was claimed from: StatusWaiting
	// (phase one; "" means the same) or StatusPartDone (phase two).
	Phase   Status
	Attempt int // 1 for the phase's first claim
	// Total is how many bytes the attempt has written so far; Tail holds
	// the last of them (Total - len(Tail) bytes were dropped). A follower
	// that printed up to an earlier Total prints only what is new.
	Total     int64
	Tail      []byte
	UpdatedAt time.Time
}

// PhaseTwo reports whether l is the log of an attempt of phase two.
func (l TaskLog) PhaseTwo() bool { return l.Phase == StatusPartDone }

// LogStore is the role of a Store that keeps task logs. Both backends
// implement it and pass the log cases of taskstatetest; a log's lifetime is
// its task's: Store.Delete removes the logs of the tasks it deletes.
type LogStore interface {
	// PutLog stores (replaces) the log of one attempt, keeping the last
	// PutLogParams.MaxTail bytes of its tail. A log of a task that is not
	// in the pool is refused with an error wrapping ErrNotFound, and
	// nothing of it is kept.
	PutLog(ctx context.Context, p PutLogParams) error
	// GetLogs returns the logs of a task, phase one first, then by
	// attempt. No log (or no such task) is not an error: the result is
	// empty.
	GetLogs(ctx context.Context, p GetLogsParams) ([]TaskLog, error)
}

// PutLogParams are the arguments of LogStore.PutLog.
type PutLogParams struct {
	Pool string
	Log  TaskLog
	// MaxTail bounds the kept tail: 0 means DefaultMaxLog; at most
	// MaxLogLimit.
	MaxTail int
}

// Bounded validates p and returns its log as a store keeps it: the phase
// spelled out, the tail cut to its last MaxTail bytes, Total at least
// the length of the tail it was given. Both backends call it first in
// PutLog.
func (p PutLogParams) Bounded() (TaskLog, error) {
	l := p.Log
	switch l.Phase {
	case "":
		l.Phase = StatusWaiting
	case StatusWaiting, StatusPartDone:
	default:
		return l, fmt.Errorf("%w: log of task %s: phase %q (want waiting or part_done)", ErrInvalidStatus, l.ID, l.Phase)
	}
	if l.Attempt < 1 {
		return l, fmt.Errorf("taskstate: log of task %s: attempt %d (want 1 or more)", l.ID, l.Attempt)
	}
	limit := p.MaxTail
	switch {
	case limit == 0:
		limit = DefaultMaxLog
	case limit < 0 || limit > MaxLogLimit:
		return l, fmt.Errorf("taskstate: log of task %s: tail bound %d (want 1 to %d)", l.ID, limit, MaxLogLimit)
	}
	l.Total = max(l.Total, int64(len(l.Tail)))
	if len(l.Tail) > limit {
		l.Tail = l.Tail[len(l.Tail)-limit:]
	}
	if l.Tail == nil {
		l.Tail = []byte{}
	}
	return l, nil
}

// GetLogsParams are the arguments of LogStore.GetLogs.
type GetLogsParams struct {
	Pool    string
	ID      string
	Phase   Status // "": both phases
	Attempt int    // 0: every attempt
}

func (m *Manager) logStore() (LogStore, error) {
	ls, ok := m.store.(LogStore)
	if !ok {
		return nil, ErrNoLogs
	}
	return ls, nil
}

// PutLog stores the log of one attempt of a task of the pool. The caller
// bounds the tail (a program's log keeps DefaultMaxLog by default); the
// store keeps at most MaxLogLimit of it.
func (m *Manager) PutLog(ctx context.Context, l TaskLog) error {
	ls, err := m.logStore()
	if err != nil {
		return err
	}
	if l.UpdatedAt.IsZero() {
		l.UpdatedAt = m.cfg.Now()
	}
	start := time.Now()
	err = ls.PutLog(ctx, PutLogParams{Pool: m.pool, Log: l, MaxTail: MaxLogLimit})
	m.observe("put_log", start, err)
	if err != nil {
		return fmt.Errorf("taskstate: store log of task %s attempt %d: %w", l.ID, l.Attempt, err)
	}
	return nil
}

// Logs returns the logs of a task, phase one first, then oldest attempt
// first: all of them, or those of one phase ("" for both) and attempt (0
// for every one).
func (m *Manager) Logs(ctx context.Context, id string, phase Status, attempt int) ([]TaskLog, error) {
	ls, err := m.logStore()
	if err != nil {
		return nil, err
	}
	if phase != "" && !phase.Claimable() {
		return nil, fmt.Errorf("%w: log phase %q (want waiting or part_done)", ErrInvalidStatus, phase)
	}
	start := time.Now()
	logs, err := ls.GetLogs(ctx, GetLogsParams{Pool: m.pool, ID: id, Phase: phase, Attempt: attempt})
	m.observe("get_logs", start, err)
	return logs, err
}
