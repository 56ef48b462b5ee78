package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migrateRetry runs migrate, retrying while the file is busy: processes
// that open a new file together can get SQLITE_BUSY without the busy
// handler's wait while the first one switches the file to WAL.
func (s *Store) migrateRetry(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	backoff := 5 * time.Millisecond
	for {
		err := s.migrate(ctx)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// migrate brings the file to schemaVersion in one transaction (see schema.go).
func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: processes opening together migrate one at a time
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	switch {
	case version == schemaVersion:
		// An older build that opened the file since has put its triggers
		// and index back (it creates them IF NOT EXISTS and does not read
		// the version); with them, every move would be counted twice.
		var stale bool
		if err := tx.QueryRowContext(ctx, sqlV1Objects).Scan(&stale); err != nil {
			return err
		}
		if !stale {
			return nil
		}
		if _, err := tx.ExecContext(ctx, migrateV1+";"+migrateKeys+";"+migrateDedupIndex); err != nil {
			return fmt.Errorf("remove schema version 1 objects: %w", err)
		}
		if err := fillKeyHashes(ctx, tx); err != nil {
			return fmt.Errorf("remove schema version 1 objects: %w", err)
		}
		if _, err := tx.ExecContext(ctx, migrateKeyTables); err != nil {
			return fmt.Errorf("remove schema version 1 objects: %w", err)
		}
		return tx.Commit()
	case version > schemaVersion:
		return fmt.Errorf("schema version %d is newer than this build's %d: upgrade taskfleet", version, schemaVersion)
	}
	var exists bool // version 0 is a new file, or one of version 1 (written before user_version was set)
	if err := tx.QueryRowContext(ctx, "SELECT count(*) > 0 FROM sqlite_schema WHERE name = 'tasks'").Scan(&exists); err != nil {
		return err
	}
	if exists && version < 10 {
		// The schema's triggers need the column.
		if err := addKeyHashColumn(ctx, tx); err != nil {
			return fmt.Errorf("migrate to schema version 10: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	if exists && version < 2 {
		if _, err := tx.ExecContext(ctx, migrateV1); err != nil {
			return fmt.Errorf("migrate to schema version 2: %w", err)
		}
	}
	if exists && version < 3 {
		if _, err := tx.ExecContext(ctx, migrateKeys); err != nil {
			return fmt.Errorf("migrate to schema version 3: %w", err)
		}
	}
	if exists && version >= 4 && version < 6 {
		if _, err := tx.ExecContext(ctx, migrateLogPhase); err != nil {
			return fmt.Errorf("migrate to schema version 6: %w", err)
		}
	}
	if exists && version == 8 {
		if _, err := tx.ExecContext(ctx, migratePages); err != nil {
			return fmt.Errorf("migrate to schema version 9: %w", err)
		}
	}
	if exists && version < 10 {
		err := fillKeyHashes(ctx, tx)
		if err == nil {
			_, err = tx.ExecContext(ctx, migrateDedupIndex)
		}
		if err != nil {
			return fmt.Errorf("migrate to schema version 10: %w", err)
		}
	}
	if exists && version < 11 {
		// Built once, sorted, after every task has its kh.
		if _, err := tx.ExecContext(ctx, migrateKeyTables); err != nil {
			return fmt.Errorf("migrate to schema version 11: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// addKeyHashColumn adds column kh to a tasks table written before version
// 10, unless an earlier attempt has.
func addKeyHashColumn(ctx context.Context, tx *sql.Tx) error {
	var has bool
	if err := tx.QueryRowContext(ctx, `SELECT count(*) > 0 FROM pragma_table_info('tasks') WHERE name = 'kh'`).Scan(&has); err != nil {
		return err
	}
	if has {
		return nil
	}
	_, err := tx.ExecContext(ctx, `ALTER TABLE tasks ADD COLUMN kh INTEGER`)
	return err
}

// fillKeyHashes sets kh on the tasks that have none: every task of a file
// older than version 10, and those an older build added since. It reads
// them in seq windows and updates them between reads.
func fillKeyHashes(ctx context.Context, tx *sql.Tx) error {
	const window = 10000
	type row struct {
		seq       int64
		pool, key string
	}
	up, err := tx.PrepareContext(ctx, `UPDATE tasks SET kh = ? WHERE seq = ?`)
	if err != nil {
		return err
	}
	defer up.Close()
	var after int64 = -1
	batch := make([]row, 0, window)
	for {
		rows, err := tx.QueryContext(ctx, `SELECT seq, pool, `+keyCol+` FROM tasks NOT INDEXED
			WHERE seq > ? AND kh IS NULL ORDER BY seq LIMIT ?`, after, window)
		if err != nil {
			return err
		}
		batch = batch[:0]
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.seq, &r.pool, &r.key); err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, r)
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return err
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		for _, r := range batch {
			if _, err := up.ExecContext(ctx, keyHash(r.pool, r.key), r.seq); err != nil {
				return err
			}
		}
		after = batch[len(batch)-1].seq
	}
}
