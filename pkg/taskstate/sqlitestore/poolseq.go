package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
)

// Each pool owns a range of seqs (schema version 12): the tasks of the
// pool numbered no have seqs from no<<seqBits + 1, in creation order, so
// the table itself is in (pool, seq) order and a pool's rows are a rowid
// range. Version 11 kept an index of (pool, seq) for that, which every
// create grew by an entry and, when writes were slow, by a page: a large
// part of a pickup's longer tail (docs/BENCHMARKS.md, round 17).
//
// 2^40 seqs a pool (a seq may be left unused by a create that finds its
// key taken) and 2^23 - 2 pools fit an int64. Below 8,192 pools every seq
// is under 2^53, which a JSON reader keeps exactly.
const (
	seqBits  = 40
	maxPools = 1<<(63-seqBits) - 2 // the last range ends below 2^63
)

// sqlPools numbers the pools. A number is never reused or changed: a
// store keeps the numbers it has seen (Store.poolNos).
const sqlPools = `CREATE TABLE IF NOT EXISTS pools (
	no   INTEGER PRIMARY KEY,
	pool TEXT NOT NULL UNIQUE
);`

// seqRange is the half-open range of the seqs of pool number no.
func seqRange(no int64) (lo, hi int64) { return no << seqBits, (no + 1) << seqBits }

// rangeCond is the condition on seq of the rows of pool number no, as
// literals: SQLite reads the pool as a rowid range. Pools are numbered
// from 1: the range of 0, which a pool without a number (so without
// tasks) is given, holds no task once a file is at version 12.
func rangeCond(no int64) string {
	lo, hi := seqRange(no)
	return "seq > " + strconv.FormatInt(lo, 10) + " AND seq < " + strconv.FormatInt(hi, 10)
}

// poolNo returns the number of pool, or 0 when it has none yet (it has
// never had a task). A number once read is kept.
func (s *Store) poolNo(ctx context.Context, pool string) (int64, error) {
	if no, ok := s.poolNos.Load(pool); ok {
		return no.(int64), nil
	}
	var no int64
	switch err := s.r.QueryRowContext(ctx, `SELECT no FROM pools WHERE pool = ?`, pool).Scan(&no); {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil // not kept: another process may number it
	case err != nil:
		return 0, fmt.Errorf("pool number: %w", err)
	}
	s.poolNos.Store(pool, no)
	return no, nil
}

// Statements of nextSeq, inside a create's write transaction.
const (
	sqlPoolNo     = `SELECT no FROM pools WHERE pool = ?`
	sqlNumberPool = `INSERT INTO pools (pool) VALUES (?) RETURNING no`
	sqlLastSeq    = `SELECT coalesce(max(seq), ?1), coalesce((SELECT max(seq) FROM tasks), 0) FROM tasks WHERE seq > ?1 AND seq < ?2`
)

// poolSeq is where a create's rows go in their pool's range.
type poolSeq struct {
	no       int64 // the pool's number
	last     int64 // the last seq of its range in use (the range's start: none)
	fileLast int64 // the file's last seq
	top      bool  // the pool holds the file's last seq: SQLite's next rowid is the pool's next seq
}

// nextSeq returns, in tx (which holds the writer), where the rows of a
// create into pool go (numbering the pool if it has no number), and
// checks that n more fit. The number is kept by the caller once tx
// commits (a rolled-back number may go to another pool).
func (s *Store) nextSeq(ctx context.Context, tx *sql.Tx, pool string, n int) (poolSeq, error) {
	var ps poolSeq
	if v, ok := s.poolNos.Load(pool); ok {
		ps.no = v.(int64)
	} else {
		st, err := s.txStmt(ctx, tx, sqlPoolNo)
		if err != nil {
			return ps, err
		}
		err = st.QueryRowContext(ctx, pool).Scan(&ps.no)
		if errors.Is(err, sql.ErrNoRows) {
			err = tx.QueryRowContext(ctx, sqlNumberPool, pool).Scan(&ps.no)
		}
		if err != nil {
			return ps, fmt.Errorf("pool number: %w", err)
		}
		if ps.no > maxPools {
			return ps, fmt.Errorf("pool %q: the file holds its maximum of %d pools", pool, maxPools)
		}
	}
	lo, hi := seqRange(ps.no)
	st, err := s.txStmt(ctx, tx, sqlLastSeq)
	if err != nil {
		return ps, err
	}
	if err := st.QueryRowContext(ctx, lo, hi).Scan(&ps.last, &ps.fileLast); err != nil {
		return ps, fmt.Errorf("last seq: %w", err)
	}
	if hi-1-ps.last < int64(n) {
		return ps, fmt.Errorf("pool %q: its %d seqs are used up", pool, int64(1)<<seqBits-1)
	}
	ps.top = ps.last > lo && ps.last == ps.fileLast
	return ps, nil
}

// inRange is the condition that a task's seq is in the range of its pool,
// p.no.
var inRange = "t.seq > p.no << " + strconv.Itoa(seqBits) + " AND t.seq < (p.no + 1) << " + strconv.Itoa(seqBits)

// sqlRenumber gives every task whose seq is outside its pool's range
// (every task of a file before version 12; one written since by a build
// of version 1, which does not read the version) a seq in that range,
// after those already there, keeping their order, and numbers the pools
// that have none. The new seqs are computed in full before any row moves,
// and are above every row in their range, so no update meets a seq in
// use. The dedup tables, which hold seqs, are rebuilt after it
// (migrateKeyTables).
var sqlRenumber = `
INSERT INTO pools (pool) SELECT DISTINCT pool FROM tasks WHERE pool NOT IN (SELECT pool FROM pools) ORDER BY pool;
CREATE TEMP TABLE renumber (old INTEGER PRIMARY KEY, new INTEGER NOT NULL);
WITH last AS (
	SELECT p.no, p.pool, (SELECT coalesce(max(seq), p.no << ` + strconv.Itoa(seqBits) + `) FROM tasks
		WHERE seq > p.no << ` + strconv.Itoa(seqBits) + ` AND seq < (p.no + 1) << ` + strconv.Itoa(seqBits) + `) AS seq
	FROM pools AS p
)
INSERT INTO renumber (old, new)
	SELECT t.seq, last.seq + row_number() OVER (PARTITION BY last.no ORDER BY t.seq)
	FROM tasks AS t JOIN last ON last.pool = t.pool JOIN pools AS p ON p.no = last.no WHERE NOT (` + inRange + `);
UPDATE tasks SET seq = (SELECT new FROM renumber WHERE old = tasks.seq) WHERE seq IN (SELECT old FROM renumber);
DROP TABLE renumber`

// sqlLastStray reports whether the file's last task is outside its
// pool's range: a build before version 12 gives a task the file's next
// rowid.
var sqlLastStray = `SELECT coalesce((SELECT p.no IS NULL OR NOT (` + inRange + `)
	FROM (SELECT seq, pool FROM tasks ORDER BY seq DESC LIMIT 1) AS t LEFT JOIN pools AS p ON p.pool = t.pool), 0)`

// rebuildInRanges moves the tasks of a file before version 12 into their
// pools' ranges: it copies them, pool by pool in seq order, into a new
// table that then replaces tasks (its indexes and triggers go with the
// old table; the caller creates them again). A pool's first row names its
// seq, the start of the range; the others take SQLite's next rowid, which
// is the last row's plus one. Unlike renumbering the rows where they
// are, the copy writes new pages only, which SQLite does not copy into a
// statement journal: renumbering a million tasks in place took 26 s and
// a copy of every page changed.
func rebuildInRanges(ctx context.Context, tx *sql.Tx) error {
	// The copy reads each pool in seq order; files before version 8 have
	// no index for that. It goes with the old table.
	if _, err := tx.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS tasks_pool_seq ON tasks (pool, seq);
		INSERT INTO pools (pool) SELECT DISTINCT pool FROM tasks WHERE pool NOT IN (SELECT pool FROM pools) ORDER BY pool;
		DROP TABLE IF EXISTS tasks_v12;
		CREATE TABLE tasks_v12 `+tasksTable); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT no, pool FROM pools ORDER BY no`)
	if err != nil {
		return err
	}
	type numbered struct {
		no   int64
		pool string
	}
	var pools []numbered
	for rows.Next() {
		var p numbered
		if err := rows.Scan(&p.no, &p.pool); err != nil {
			rows.Close()
			return err
		}
		pools = append(pools, p)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, p := range pools {
		lo, _ := seqRange(p.no)
		var first int64
		err := tx.QueryRowContext(ctx, `SELECT seq FROM tasks WHERE pool = ? ORDER BY seq LIMIT 1`, p.pool).Scan(&first)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO tasks_v12 (seq, `+tasksCols+`) SELECT ?, `+tasksCols+` FROM tasks WHERE seq = ?`, lo+1, first); err != nil {
			return fmt.Errorf("pool %q: %w", p.pool, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO tasks_v12 (`+tasksCols+`) SELECT `+tasksCols+` FROM tasks WHERE pool = ? AND seq > ? ORDER BY seq`, p.pool, first); err != nil {
			return fmt.Errorf("pool %q: %w", p.pool, err)
		}
	}
	var old, copied int64
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM tasks_v12)`).Scan(&old, &copied); err != nil {
		return err
	}
	if old != copied {
		return fmt.Errorf("copied %d of %d tasks", copied, old)
	}
	_, err = tx.ExecContext(ctx, `DROP TABLE tasks; ALTER TABLE tasks_v12 RENAME TO tasks`)
	return err
}
