package taskstate

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNoLogs is returned by a Manager whose store keeps no task logs.
var ErrNoLogs = errors.New("taskstate: this store keeps no task logs")

// DefaultMaxLog is the default size of the tail of a task's output that is
// kept per attempt: 1 MiB.
const DefaultMaxLog = 1 << 20

// TaskLog is the kept output of one attempt of a task: the last bytes a
// program wrote to stdout and stderr.
type TaskLog struct {
	ID      string // the task
	Attempt int    // 1 for the first claim
	// Total is how many bytes the attempt has written so far; Tail holds
	// the last of them (Total - len(Tail) bytes were dropped). A follower
	// that printed up to an earlier Total prints only what is new.
	Total     int64
	Tail      []byte
	UpdatedAt time.Time
}

// LogStore is the role of a Store that keeps task logs. Both backends
// implement it; a log's lifetime is its task's: Store.Delete removes the
// logs of the tasks it deletes.
type LogStore interface {
	// PutLog stores (replaces) the log of one attempt.
	PutLog(ctx context.Context, p PutLogParams) error
	// GetLogs returns the logs of a task, by attempt; Attempt 0 means
	// every attempt. No log is not an error: the result is empty.
	GetLogs(ctx context.Context, p GetLogsParams) ([]TaskLog, error)
}

// PutLogParams are the arguments of LogStore.PutLog.
type PutLogParams struct {
	Pool string
	Log  TaskLog
}

// GetLogsParams are the arguments of LogStore.GetLogs.
type GetLogsParams struct {
	Pool    string
	ID      string
	Attempt int // 0: every attempt
}

func (m *Manager) logStore() (LogStore, error) {
	ls, ok := m.store.(LogStore)
	if !ok {
		return nil, ErrNoLogs
	}
	return ls, nil
}

// PutLog stores the log of one attempt of a task of the pool. The caller
// bounds the tail (a program's log keeps DefaultMaxLog by default).
func (m *Manager) PutLog(ctx context.Context, l TaskLog) error {
	ls, err := m.logStore()
	if err != nil {
		return err
	}
	if l.UpdatedAt.IsZero() {
		l.UpdatedAt = m.cfg.Now()
	}
	start := time.Now()
	err = ls.PutLog(ctx, PutLogParams{Pool: m.pool, Log: l})
	m.observe("put_log", start, err)
	if err != nil {
		return fmt.Errorf("taskstate: store log of task %s attempt %d: %w", l.ID, l.Attempt, err)
	}
	return nil
}

// Logs returns the logs of a task (attempt 0: every attempt), oldest
// attempt first.
func (m *Manager) Logs(ctx context.Context, id string, attempt int) ([]TaskLog, error) {
	ls, err := m.logStore()
	if err != nil {
		return nil, err
	}
	return ls.GetLogs(ctx, GetLogsParams{Pool: m.pool, ID: id, Attempt: attempt})
}
