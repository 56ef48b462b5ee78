package sqlitestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// idIndex is the index SQLite keeps for the UNIQUE id column.
const idIndex = "sqlite_autoindex_tasks_1"

// from is the table clause of a statement over the tasks matching q. A
// query that names its tasks by id reads them through the id index: left
// to itself, SQLite (without sqlite_stat1) prefers a (pool, ...) index
// for lists of five ids or more and scans the whole pool.
//
// A query of one status (a condition of its own, which where writes as a
// literal) reads that status's partial index in seq order, when the status
// has one (failed, part_done: see schema): without statistics SQLite takes
// tasks_pool_seq, the same shape, and walks the whole pool for a page of a
// rare status. A declared path index, when the query has one, comes first
// (indexedWhere).
func from(q taskstate.Query) string {
	for _, c := range q.Conds {
		if c.Field == taskstate.FieldID && byIDList(c) {
			return "tasks INDEXED BY " + idIndex
		}
	}
	if index, ok := seqIndexes[statusOf(q)]; ok {
		return "tasks INDEXED BY " + index
	}
	return "tasks"
}

// statusOf returns the one status q asks for in a condition of its own
// (an equality, or an $in of one), or "" when there is none.
func statusOf(q taskstate.Query) taskstate.Status {
	for _, c := range q.Conds {
		if st, ok := oneStatus(c); ok && c.Field == taskstate.FieldStatus && c.Op != taskstate.OpNin {
			return taskstate.Status(st)
		}
	}
	return ""
}

// oneStatus returns the status c names when it is an equality with, or an
// $in or $nin of exactly, one valid status.
func oneStatus(c taskstate.Cond) (string, bool) {
	v := c.Value
	switch c.Op {
	case taskstate.OpEq:
	case taskstate.OpIn, taskstate.OpNin:
		list, _ := v.([]any)
		if len(list) != 1 {
			return "", false
		}
		v = list[0]
	default:
		return "", false
	}
	st, ok := taskstate.StatusValue(v)
	return st, ok && taskstate.Status(st).Valid()
}

// seqIndexes are the partial (pool, seq) indexes of one status each (see
// schema).
var seqIndexes = map[taskstate.Status]string{
	taskstate.StatusPartDone: "tasks_part_done_seq", taskstate.StatusFailed: "tasks_failed_seq",
}

// byIDList reports whether c is a condition the id index answers: an
// equality or a non-empty $in without null (colCond writes both as id = ?
// or id IN (...)).
func byIDList(c taskstate.Cond) bool {
	switch c.Op {
	case taskstate.OpEq:
		return c.Value != nil
	case taskstate.OpIn:
		list, _ := c.Value.([]any)
		for _, v := range list {
			if v == nil {
				return false
			}
		}
		return len(list) > 0
	}
	return false
}

// sqlPathIndexes keeps the declared path indexes. It is created when the
// first index is declared, so files without it read as having none.
const sqlPathIndexes = `CREATE TABLE IF NOT EXISTS path_indexes (
	pool TEXT NOT NULL,
	path TEXT NOT NULL,
	name TEXT NOT NULL,
	PRIMARY KEY (pool, path)
) WITHOUT ROWID`

// pathExpr is the SQL expression a path index is built on; a query names
// it the same way (locate), which is what lets SQLite use the index.
func pathExpr(field string) string {
	at := locate(field)
	return "json_extract(" + at.doc + ", '" + at.path + "')"
}

// indexName is the name of the index of field in pool: a hash, since
// pools and paths may hold characters names may not.
func indexName(pool, field string) string {
	h := sha256.Sum256([]byte(pool + "\x00" + field))
	return "tasks_path_" + hex.EncodeToString(h[:8])
}

// CreatePathIndex implements taskstate.Store: a partial expression index
// over the pool's rows, on json_extract of the path.
func (s *Store) CreatePathIndex(ctx context.Context, p taskstate.PathIndexParams) error {
	if err := taskstate.ValidIndexPath(p.Field); err != nil {
		return err
	}
	name := indexName(p.Pool, p.Field)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: create index: %w", err)
	}
	defer tx.Rollback()
	// The pool is a literal: a partial index is used only by statements
	// that name its condition as a literal. Pool names are [A-Za-z0-9_-].
	for _, q := range []string{
		sqlPathIndexes,
		"CREATE INDEX IF NOT EXISTS " + name + " ON tasks (" + pathExpr(p.Field) + ") WHERE pool = '" + p.Pool + "'",
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sqlitestore: create index on %s: %w", p.Field, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO path_indexes (pool, path, name) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, p.Pool, p.Field, name); err != nil {
		return fmt.Errorf("sqlitestore: create index on %s: %w", p.Field, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: create index on %s: %w", p.Field, err)
	}
	return nil
}

// PathIndexes implements taskstate.Store.
func (s *Store) PathIndexes(ctx context.Context, pool string) ([]string, error) {
	var exists bool
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) > 0 FROM sqlite_schema WHERE name = 'path_indexes'`).Scan(&exists); err != nil || !exists {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT path FROM path_indexes WHERE pool = ? ORDER BY path`, pool)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list indexes: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("sqlitestore: list indexes: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// indexedWhere is the table clause and condition of a statement over the
// tasks of pool matching q. An id list reads the id index (from). A
// condition a path index answers reads its candidates from the index (see
// candidates) and the table by seq only: left to itself, SQLite prefers
// the pool's index and scans the pool.
func (s *Store) indexedWhere(ctx context.Context, pool string, q taskstate.Query) (tbl, cond string, args []any, err error) {
	tbl = from(q)
	if strings.Contains(tbl, idIndex) || !hasPath(q) {
		cond, args, err = where(q)
		return tbl, cond, args, err
	}
	paths, err := s.PathIndexes(ctx, pool)
	if err != nil {
		return "", "", nil, err
	}
	var parts []string
	for _, c := range q.Conds {
		part, a, err := where(taskstate.Query{Conds: []taskstate.Cond{c}})
		if err != nil {
			return "", "", nil, err
		}
		if slices.Contains(paths, c.Field) {
			if pre, preArgs, ok := candidates(pool, c); ok {
				tbl = "tasks NOT INDEXED"
				part, a = pre+part+"))", append(preArgs, a...)
			}
		}
		parts = append(parts, part)
		args = append(args, a...)
	}
	if len(parts) == 0 {
		return tbl, "1", nil, nil
	}
	return tbl, strings.Join(parts, " AND "), args, nil
}

func hasPath(q taskstate.Query) bool {
	for _, c := range q.Conds {
		if strings.HasPrefix(c.Field, taskstate.FieldFilter+".") {
			return true
		}
	}
	return false
}

// candidates returns the opening of a condition on the rows of pool where
// c holds, for an equality or $in of strings and numbers, read from c's
// path index: the rows whose value there is one of them, and the rows
// whose value is an array (MongoDB matches an array holding the value too;
// an array reads as JSON text, which sorts from "[" up to "\"). Each
// candidate is then tested exactly: at once when json_extract alone tells
// (a string not starting with [ or {, which only a JSON string extracts
// to; a number other than 0 and 1, which false and true extract to), else
// by c's full condition, which the caller appends, with "))".
func candidates(pool string, c taskstate.Cond) (string, []any, bool) {
	vals := []any{c.Value}
	if c.Op == taskstate.OpIn {
		vals, _ = c.Value.([]any)
	} else if c.Op != taskstate.OpEq {
		return "", nil, false
	}
	if len(vals) == 0 {
		return "", nil, false
	}
	args := make([]any, 0, len(vals))
	exact := true
	for _, v := range vals {
		if s, ok := v.(string); ok {
			args = append(args, s)
			exact = exact && !strings.HasPrefix(s, "[") && !strings.HasPrefix(s, "{")
			continue
		}
		if _, isBool := v.(bool); isBool {
			return "", nil, false
		}
		f, ok := taskstate.AsNumber(v)
		if !ok {
			return "", nil, false
		}
		args = append(args, f)
		exact = exact && f != 0 && f != 1
	}
	x := pathExpr(c.Field)
	in := x + " IN (" + placeholders(len(args)) + ")"
	lit := "pool = '" + pool + "'"
	tbl := "tasks INDEXED BY " + indexName(pool, c.Field)
	sql := "(seq IN (SELECT seq FROM " + tbl + " WHERE " + lit + " AND " + in +
		" UNION ALL SELECT seq FROM " + tbl + " WHERE " + lit + " AND " + x + ` >= '[' AND ` + x + ` < '\')`
	if !exact {
		return sql + " AND (", args, true
	}
	return sql + " AND (" + in + " OR ", append(args, args...), true
}

// statSQL is the statement Stat runs for a non-empty query.
func (s *Store) statSQL(ctx context.Context, pool string, q taskstate.Query) (string, []any, error) {
	tbl, cond, args, err := s.indexedWhere(ctx, pool, q)
	if err != nil {
		return "", nil, err
	}
	return "SELECT status, count(*) FROM " + tbl + " WHERE pool = ? AND (" + cond + ") GROUP BY status", append([]any{pool}, args...), nil
}

// countKindsSQL is the statement of CountKinds over at most limit tasks.
// A query of one status reads that status's partial index: left to
// itself, SQLite may walk the whole pool in tasks_pool_seq for a statement
// without an ORDER BY (TestPlanCountKindsUsesStatusIndex).
func (s *Store) countKindsSQL(ctx context.Context, pool string, q taskstate.Query, limit int) (string, []any, error) {
	tbl, cond, args, err := s.indexedWhere(ctx, pool, q)
	if err != nil {
		return "", nil, err
	}
	if index, ok := statusIndexes[statusOf(q)]; ok && tbl == "tasks" {
		tbl = "tasks INDEXED BY " + index
	}
	return "SELECT kind, count(*) FROM (SELECT kind FROM " + tbl + " WHERE pool = ? AND (" + cond + ") LIMIT ?) GROUP BY kind",
		append(append([]any{pool}, args...), limit), nil
}

// statusIndexes are the partial indexes that hold the tasks of one status
// each, whatever their order (see schema).
var statusIndexes = map[taskstate.Status]string{
	taskstate.StatusWaiting: "tasks_waiting", taskstate.StatusPartDone: "tasks_part_done",
	taskstate.StatusRunning: "tasks_running", taskstate.StatusFailed: "tasks_failed_seq",
}
