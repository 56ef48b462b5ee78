package sqlitestore

import (
	"context"
	"fmt"
	"time"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

var _ taskstate.LogStore = (*Store)(nil)

const (
	sqlPutLog = `INSERT INTO task_logs (task_id, attempt, pool, total, tail, updated_at) SELECT ?, ?, ?, ?, ?, ?
	WHERE EXISTS (SELECT 1 FROM tasks WHERE id = ? AND pool = ?)
	ON CONFLICT (task_id, attempt) DO UPDATE SET total = excluded.total, tail = excluded.tail, updated_at = excluded.updated_at`
	sqlGetLogs = `SELECT attempt, total, tail, updated_at FROM task_logs
	WHERE task_id = ? AND pool = ? AND (? = 0 OR attempt = ?) ORDER BY attempt`
)

// PutLog stores (replaces) the log of one attempt. The log of a task that
// no longer exists is not kept: the insert reads the task in the same
// statement, so a log written after a removal leaves nothing behind.
func (s *Store) PutLog(ctx context.Context, p taskstate.PutLogParams) error {
	l := p.Log
	tail := l.Tail
	if tail == nil {
		tail = []byte{}
	}
	st, err := s.wstmt(ctx, sqlPutLog)
	if err != nil {
		return fmt.Errorf("sqlitestore: put log: %w", err)
	}
	if _, err := st.ExecContext(ctx, l.ID, l.Attempt, p.Pool, l.Total, tail, l.UpdatedAt.UnixNano(), l.ID, p.Pool); err != nil {
		return fmt.Errorf("sqlitestore: put log: %w", err)
	}
	return nil
}

// GetLogs returns a task's logs, oldest attempt first.
func (s *Store) GetLogs(ctx context.Context, p taskstate.GetLogsParams) ([]taskstate.TaskLog, error) {
	st, err := s.rstmt(ctx, sqlGetLogs)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: get logs: %w", err)
	}
	rows, err := st.QueryContext(ctx, p.ID, p.Pool, p.Attempt, p.Attempt)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: get logs: %w", err)
	}
	defer rows.Close()
	var out []taskstate.TaskLog
	for rows.Next() {
		l := taskstate.TaskLog{ID: p.ID}
		var updated int64
		if err := rows.Scan(&l.Attempt, &l.Total, &l.Tail, &updated); err != nil {
			return nil, fmt.Errorf("sqlitestore: get logs: %w", err)
		}
		l.UpdatedAt = time.Unix(0, updated).UTC()
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: get logs: %w", err)
	}
	return out, nil
}
