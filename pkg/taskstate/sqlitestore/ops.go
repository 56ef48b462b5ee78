package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// opsSchema is the part of the schema that keeps each pool's admin state
// and its worker registry (version 7; created IF NOT EXISTS, so older
// files only gain the tables). A worker's entry is its WorkerInfo as JSON,
// with its expiry as a column to filter on.
const opsSchema = `
CREATE TABLE IF NOT EXISTS pool_state (
	pool      TEXT    PRIMARY KEY,
	paused    INTEGER NOT NULL DEFAULT 0,
	reason    TEXT,
	paused_at INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS workers (
	pool       TEXT    NOT NULL,
	id         TEXT    NOT NULL,
	info       TEXT    NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (pool, id)
) WITHOUT ROWID;
`

// sqlNotPaused is the claim's pause check: one primary-key lookup, bound
// to the pool, evaluated once per claim.
const sqlNotPaused = ` AND NOT EXISTS (SELECT 1 FROM pool_state WHERE pool = ? AND paused = 1)`

// workerForget is how long an expired worker entry is kept (listed as
// gone) before a PutWorker of the pool deletes it.
const workerForget = time.Hour

// SetPaused implements taskstate.OpsStore.
func (s *Store) SetPaused(ctx context.Context, p taskstate.SetPausedParams) error {
	var reason, at any
	if p.Paused {
		reason, at = p.Reason, p.Now.UnixNano()
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO pool_state (pool, paused, reason, paused_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (pool) DO UPDATE SET paused = excluded.paused, reason = excluded.reason,
		paused_at = CASE WHEN pool_state.paused = 1 AND excluded.paused = 1 THEN pool_state.paused_at ELSE excluded.paused_at END`,
		p.Pool, p.Paused, reason, at)
	if err != nil {
		return fmt.Errorf("sqlitestore: set paused: %w", err)
	}
	return nil
}

// PoolState implements taskstate.OpsStore.
func (s *Store) PoolState(ctx context.Context, pool string) (taskstate.PoolState, error) {
	var (
		st     taskstate.PoolState
		reason sql.NullString
		at     sql.NullInt64
	)
	err := s.r.QueryRowContext(ctx, `SELECT paused, reason, paused_at FROM pool_state WHERE pool = ?`, pool).Scan(&st.Paused, &reason, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return taskstate.PoolState{}, nil
	case err != nil:
		return st, fmt.Errorf("sqlitestore: pool state: %w", err)
	}
	st.Reason = reason.String
	if at.Valid && st.Paused {
		st.PausedAt = time.Unix(0, at.Int64)
	}
	return st, nil
}

// PutWorker implements taskstate.OpsStore. It also forgets the pool's
// entries that expired long ago (crashed workers).
func (s *Store) PutWorker(ctx context.Context, p taskstate.PutWorkerParams) error {
	info, err := json.Marshal(p.Worker)
	if err != nil {
		return fmt.Errorf("sqlitestore: put worker: %w", err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: put worker: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO workers (pool, id, info, expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (pool, id) DO UPDATE SET info = excluded.info, expires_at = excluded.expires_at`,
		p.Pool, p.Worker.ID, string(info), p.Worker.ExpiresAt.UnixNano()); err != nil {
		return fmt.Errorf("sqlitestore: put worker: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM workers WHERE pool = ? AND expires_at < ?`,
		p.Pool, p.Worker.SeenAt.Add(-workerForget).UnixNano()); err != nil {
		return fmt.Errorf("sqlitestore: put worker: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: put worker: %w", err)
	}
	return nil
}

// RemoveWorker implements taskstate.OpsStore.
func (s *Store) RemoveWorker(ctx context.Context, p taskstate.RemoveWorkerParams) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM workers WHERE pool = ? AND id = ?`, p.Pool, p.ID); err != nil {
		return fmt.Errorf("sqlitestore: remove worker: %w", err)
	}
	return nil
}

// ListWorkers implements taskstate.OpsStore.
func (s *Store) ListWorkers(ctx context.Context, p taskstate.ListWorkersParams) ([]taskstate.WorkerInfo, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT info FROM workers WHERE pool = ? AND expires_at > ? ORDER BY id`, p.Pool, p.Now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list workers: %w", err)
	}
	defer rows.Close()
	var out []taskstate.WorkerInfo
	for rows.Next() {
		var (
			info string
			w    taskstate.WorkerInfo
		)
		if err := rows.Scan(&info); err != nil {
			return nil, fmt.Errorf("sqlitestore: list workers: %w", err)
		}
		if err := json.Unmarshal([]byte(info), &w); err != nil {
			return nil, fmt.Errorf("sqlitestore: list workers: entry of pool %s: %w", p.Pool, err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: list workers: %w", err)
	}
	return out, nil
}
