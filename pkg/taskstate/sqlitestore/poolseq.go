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
// create grew by an entry and, when writes were slow, by a page: a third
// of a pickup's longer tail (docs/BENCHMARKS.md, round 17).
//
// 2^40 seqs a pool (a seq is used even by a create that finds its key
// taken) and 2^23 pools fit an int64. Below 8,192 pools every seq is
// under 2^53, which a JSON reader keeps exactly.
const (
	seqBits  = 40
	maxPools = 1<<(63-seqBits) - 1
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
	sqlLastSeq    = `SELECT coalesce(max(seq), ?1) FROM tasks WHERE seq > ?1 AND seq < ?2`
)

// nextSeq returns, in tx (which holds the writer), the number of pool
// (numbering it if it has none) and the last seq its range holds, and
// checks that n more fit. The number is kept by the caller once tx
// commits (a rolled-back number may go to another pool).
func (s *Store) nextSeq(ctx context.Context, tx *sql.Tx, pool string, n int) (no, last int64, err error) {
	if v, ok := s.poolNos.Load(pool); ok {
		no = v.(int64)
	} else {
		st, err := s.txStmt(ctx, tx, sqlPoolNo)
		if err != nil {
			return 0, 0, err
		}
		err = st.QueryRowContext(ctx, pool).Scan(&no)
		if errors.Is(err, sql.ErrNoRows) {
			err = tx.QueryRowContext(ctx, sqlNumberPool, pool).Scan(&no)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("pool number: %w", err)
		}
		if no > maxPools {
			return 0, 0, fmt.Errorf("pool %q: the file holds its maximum of %d pools", pool, maxPools)
		}
	}
	lo, hi := seqRange(no)
	st, err := s.txStmt(ctx, tx, sqlLastSeq)
	if err != nil {
		return 0, 0, err
	}
	if err := st.QueryRowContext(ctx, lo, hi).Scan(&last); err != nil {
		return 0, 0, fmt.Errorf("last seq: %w", err)
	}
	if hi-1-last < int64(n) {
		return 0, 0, fmt.Errorf("pool %q: its %d seqs are used up", pool, int64(1)<<seqBits-1)
	}
	return no, last, nil
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

// sqlStrays reports whether some task is outside its pool's range.
var sqlStrays = `SELECT EXISTS (SELECT 1 FROM tasks AS t LEFT JOIN pools AS p ON p.pool = t.pool
	WHERE p.no IS NULL OR NOT (` + inRange + `))`
