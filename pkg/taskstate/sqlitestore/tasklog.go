package sqlitestore

import (
	"context"
	"fmt"
	"time"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

var _ taskstate.LogStore = (*Store)(nil)

const (
	sqlPutLog = `INSERT INTO task_logs (task_id, phase, attempt, pool, total, tail, updated_at) SELECT ?, ?, ?, ?, ?, ?, ?
	WHERE EXISTS (SELECT 1 FROM tasks WHERE id = ? AND pool = ?)
	ON CONFLICT (task_id, phase, attempt) DO UPDATE SET total = excluded.total, tail = excluded.tail, updated_at = excluded.updated_at`
	sqlGetLogs = `SELECT phase, attempt, total, tail, updated_at FROM task_logs
	WHERE task_id = ? AND pool = ? AND (? = 0 OR phase = ?) AND (? = 0 OR attempt = ?) ORDER BY phase, attempt`
)

// logPhase is the stored number of a log's phase: 1 or 2 (0: any).
func logPhase(s taskstate.Status) int {
	switch s {
	case taskstate.StatusWaiting:
		return 1
	case taskstate.StatusPartDone:
		return 2
	}
	return 0
}

// PutLog stores (replaces) the log of one attempt. The log of a task that
// is not in the pool is not kept: the insert reads the task in the same
// statement, so a log written after a removal leaves nothing behind, and
// the call reports ErrNotFound.
func (s *Store) PutLog(ctx context.Context, p taskstate.PutLogParams) error {
	l, err := p.Bounded()
	if err != nil {
		return err
	}
	st, err := s.wstmt(ctx, sqlPutLog)
	if err != nil {
		return fmt.Errorf("sqlitestore: put log: %w", err)
	}
	res, err := st.ExecContext(ctx, l.ID, logPhase(l.Phase), l.Attempt, p.Pool, l.Total, l.Tail, l.UpdatedAt.UnixNano(), l.ID, p.Pool)
	if err != nil {
		return fmt.Errorf("sqlitestore: put log: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("sqlitestore: put log of task %s: %w", l.ID, taskstate.ErrNotFound)
	}
	return nil
}

// GetLogs returns a task's logs, phase one first, then by attempt.
func (s *Store) GetLogs(ctx context.Context, p taskstate.GetLogsParams) ([]taskstate.TaskLog, error) {
	st, err := s.rstmt(ctx, sqlGetLogs)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: get logs: %w", err)
	}
	phase := logPhase(p.Phase)
	rows, err := st.QueryContext(ctx, p.ID, p.Pool, phase, phase, p.Attempt, p.Attempt)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: get logs: %w", err)
	}
	defer rows.Close()
	var out []taskstate.TaskLog
	for rows.Next() {
		l := taskstate.TaskLog{ID: p.ID, Phase: taskstate.StatusWaiting}
		var ph int
		var updated int64
		if err := rows.Scan(&ph, &l.Attempt, &l.Total, &l.Tail, &updated); err != nil {
			return nil, fmt.Errorf("sqlitestore: get logs: %w", err)
		}
		if ph == 2 {
			l.Phase = taskstate.StatusPartDone
		}
		l.UpdatedAt = time.Unix(0, updated).UTC()
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: get logs: %w", err)
	}
	return out, nil
}
