package sqlitestore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// Config configures Open.
type Config struct {
	// Path is the database file. Its directory is created if missing.
	// Required.
	Path string
	// BusyTimeout is how long a write waits for another process's write
	// lock before it fails. Default 30 s.
	BusyTimeout time.Duration
	// MaxReaders caps the read connections. Default 4.
	MaxReaders int
}

// Store is a taskstate.Store over one SQLite file.
type Store struct {
	w *sql.DB // one connection: writes queue here, not on SQLite's lock
	r *sql.DB // reads, in parallel with the writer (WAL)

	// Prepared statements by SQL text: preparing is most of the cost of a
	// small write (it compiles the counting triggers too).
	wstmts, rstmts sync.Map // string -> *sql.Stmt
}

// wstmt returns the writer's prepared statement for query.
func (s *Store) wstmt(ctx context.Context, query string) (*sql.Stmt, error) {
	return prepared(ctx, s.w, &s.wstmts, query)
}

// rstmt returns the readers' prepared statement for query.
func (s *Store) rstmt(ctx context.Context, query string) (*sql.Stmt, error) {
	return prepared(ctx, s.r, &s.rstmts, query)
}

func prepared(ctx context.Context, db *sql.DB, cache *sync.Map, query string) (*sql.Stmt, error) {
	if st, ok := cache.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := cache.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

var _ taskstate.Store = (*Store)(nil)

// Open opens (creating if needed) the database at cfg.Path.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("sqlitestore: Config.Path is required")
	}
	if cfg.BusyTimeout <= 0 {
		cfg.BusyTimeout = 30 * time.Second
	}
	if cfg.MaxReaders <= 0 {
		cfg.MaxReaders = 4
	}
	if dir := filepath.Dir(cfg.Path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("sqlitestore: create directory for %s: %w", cfg.Path, err)
		}
	}
	w, err := openDB(cfg.Path, cfg.BusyTimeout)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", cfg.Path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := openDB(cfg.Path, cfg.BusyTimeout)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", cfg.Path, err)
	}
	r.SetMaxOpenConns(cfg.MaxReaders)
	r.SetMaxIdleConns(cfg.MaxReaders)
	s := &Store{w: w, r: r}
	if err := s.migrateRetry(ctx, cfg.BusyTimeout); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", cfg.Path, err)
	}
	// Statements used inside write transactions are prepared now: the
	// writer has one connection, which a transaction holds.
	for _, q := range append([]string{sqlInsert, sqlSelectKey, sqlHeartbeat, generalForm.sql(1), commitForm.sql(1)}, countSQLs[1:]...) {
		if _, err := s.wstmt(ctx, q); err != nil {
			s.Close()
			return nil, fmt.Errorf("sqlitestore: open %s: prepare: %w", cfg.Path, err)
		}
	}
	return s, nil
}

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
		if _, err := tx.ExecContext(ctx, migrateV1+";"+migrateKeys); err != nil {
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
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// countSQL(k) adds to the counts of k (pool, status) pairs in one
// statement; its arguments are pool, status, n for each pair.
func countSQL(k int) string { return countSQLs[k] }

var countSQLs = func() []string {
	out := make([]string, len(taskstate.Statuses)+1)
	for k := 1; k < len(out); k++ {
		out[k] = `INSERT INTO pool_counts (pool, status, n) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", k), ", ") +
			` ON CONFLICT (pool, status) DO UPDATE SET n = n + excluded.n`
	}
	return out
}()

// counts accumulates the changes a write makes to pool_counts, applied
// with addCounts in the write's transaction.
type counts map[taskstate.Status]int

func (c counts) move(from, to taskstate.Status, n int) {
	if from != to && n != 0 {
		c[from] -= n
		c[to] += n
	}
}

// addCounts applies c to the pool's counters inside tx, in one statement.
func (s *Store) addCounts(ctx context.Context, tx *sql.Tx, pool string, c counts) error {
	args := make([]any, 0, 3*len(c))
	for _, status := range taskstate.Statuses { // a fixed order: one text per count
		if n := c[status]; n != 0 {
			args = append(args, pool, string(status), n)
		}
	}
	if len(args) == 0 {
		return nil
	}
	st, err := s.txStmt(ctx, tx, countSQL(len(args)/3))
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return err
}

// Close closes the database.
func (s *Store) Close() error {
	for _, m := range []*sync.Map{&s.wstmts, &s.rstmts} {
		m.Range(func(_, st any) bool { st.(*sql.Stmt).Close(); return true })
	}
	return errors.Join(s.w.Close(), s.r.Close())
}

func nanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid || n.Int64 == 0 {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// txStmt returns the writer statement for query, prepared by Open, bound
// to tx. (Preparing here would wait for the connection tx holds.)
func (s *Store) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	st, ok := s.wstmts.Load(query)
	if !ok {
		return tx.PrepareContext(ctx, query)
	}
	return tx.StmtContext(ctx, st.(*sql.Stmt)), nil
}

const (
	sqlInsert = `INSERT INTO tasks
		(id, pool, key, kind, status, priority, def, filter, max_attempts, created_at, updated_at)
		VALUES (?, ?, ?, ?, 'waiting', ?, ?, ?, ?, ?, ?)
		ON CONFLICT (pool, key) DO NOTHING`
	sqlSelectKey = `SELECT id FROM tasks WHERE pool = ? AND key = ?`
	sqlHeartbeat = `UPDATE tasks SET lease_until = ?, updated_at = ?
		WHERE id = ? AND pool = ? AND status = 'running' AND lease_token = ?`
)

// keyArg is how a dedup key is stored: a SHA-256 in hex as its 32 bytes,
// anything else as it is.
func keyArg(key string) any {
	if len(key) != 2*sha256.Size || strings.ContainsFunc(key, func(r rune) bool { return (r < '0' || r > '9') && (r < 'a' || r > 'f') }) {
		return key // not lower-case hex: it would not read back the same
	}
	b, _ := hex.DecodeString(key)
	return b
}

// CreateTasks implements taskstate.Store.
func (s *Store) CreateTasks(ctx context.Context, p taskstate.CreateTasksParams) ([]taskstate.CreatedTask, error) {
	out := make([]taskstate.CreatedTask, len(p.Tasks))
	if p.DryRun {
		for i, t := range p.Tasks {
			var id string
			st, err := s.rstmt(ctx, sqlSelectKey)
			if err == nil {
				err = st.QueryRowContext(ctx, p.Pool, keyArg(t.Key)).Scan(&id)
			}
			switch {
			case errors.Is(err, sql.ErrNoRows):
				out[i] = taskstate.CreatedTask{Created: true}
			case err != nil:
				return nil, fmt.Errorf("sqlitestore: create: %w", err)
			default:
				out[i] = taskstate.CreatedTask{ID: id}
			}
		}
		return out, nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: create: %w", err)
	}
	defer tx.Rollback()
	ins, err := s.txStmt(ctx, tx, sqlInsert)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: create: %w", err)
	}
	sel, err := s.txStmt(ctx, tx, sqlSelectKey)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: create: %w", err)
	}
	now := p.Now.UnixNano()
	created := 0
	for i, t := range p.Tasks {
		filter := t.FilterJSON
		if filter == nil {
			var err error
			if filter, err = json.Marshal(t.Filter); err != nil {
				return nil, fmt.Errorf("sqlitestore: create: filter of task %d: %w", i, err)
			}
		}
		key := keyArg(t.Key)
		res, err := ins.ExecContext(ctx, t.ID, p.Pool, key, t.Kind, t.Priority, t.Def, string(filter), t.MaxAttempts, now, now)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: create: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			out[i] = taskstate.CreatedTask{ID: t.ID, Created: true}
			created++
			continue
		}
		var id string
		if err := sel.QueryRowContext(ctx, p.Pool, key).Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlitestore: create: read existing task: %w", err)
		}
		out[i] = taskstate.CreatedTask{ID: id}
	}
	if err := s.addCounts(ctx, tx, p.Pool, counts{taskstate.StatusWaiting: created}); err != nil {
		return nil, fmt.Errorf("sqlitestore: create: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlitestore: create: %w", err)
	}
	return out, nil
}

// Claim implements taskstate.Store.
func (s *Store) Claim(ctx context.Context, p taskstate.ClaimParams) ([]*taskstate.Task, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	cond, cargs, err := where(p.Query)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString(`UPDATE tasks SET status = 'running', lease_owner = ?, lease_token = ?, lease_until = ?,
		claimed_from = status, started_at = ?, updated_at = ?, attempts = attempts + 1
		WHERE seq IN (SELECT seq FROM tasks WHERE pool = ? AND status = '` + claimableStatus(p.From) + `' AND run_after <= ?`)
	now := p.Now.UnixNano()
	// The status and the limit are part of the SQL text, not bound: bound,
	// they make SQLite recompile the statement on every call, and only a
	// literal status lets it use the partial index tasks_waiting (or
	// tasks_part_done).
	args := []any{p.Owner, p.Token, p.LeaseUntil.UnixNano(), now, now, p.Pool, now}
	if len(p.Kinds) > 0 {
		b.WriteString(" AND kind IN (" + placeholders(len(p.Kinds)) + ")")
		for _, k := range p.Kinds {
			args = append(args, k)
		}
	}
	b.WriteString(" AND (" + cond + ")")
	args = append(args, cargs...)
	cols := claimCols
	if p.From == taskstate.StatusPartDone {
		cols += ", res" // phase two runs on phase one's result
	}
	fmt.Fprintf(&b, " ORDER BY priority DESC, seq LIMIT %d) RETURNING %s", max(p.Limit, 1), cols)
	st, err := s.wstmt(ctx, b.String())
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: claim: %w", err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: claim: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: claim: %w", err)
	}
	tasks, err := scanClaimed(rows, p)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: claim: %w", err)
	}
	if len(tasks) == 0 {
		return nil, nil // nothing written; the rollback ends the transaction
	}
	c := counts{}
	c.move(taskstate.Status(claimableStatus(p.From)), taskstate.StatusRunning, len(tasks))
	if err := s.addCounts(ctx, tx, p.Pool, c); err != nil {
		return nil, fmt.Errorf("sqlitestore: claim: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlitestore: claim: %w", err)
	}
	sort.Slice(tasks, func(i, j int) bool {
		if tasks[i].Priority != tasks[j].Priority {
			return tasks[i].Priority > tasks[j].Priority
		}
		return tasks[i].Seq < tasks[j].Seq
	})
	return tasks, nil
}

// claimableStatus returns s for the SQL text of a claim; only the two
// claimable statuses can reach it.
func claimableStatus(s taskstate.Status) string {
	if s == taskstate.StatusPartDone {
		return string(taskstate.StatusPartDone)
	}
	return string(taskstate.StatusWaiting)
}

// claimCols is what a claim returns: what a worker needs to run the task
// and write about it later (res is added for a claim from part_done). The
// filter is not parsed (a handler gets the def) and the dedup key is left
// out: every returned value is copied while the claim holds the writer, so
// the list is kept short.
const claimCols = `id, kind, priority, seq, attempts, max_attempts, run_after, created_at, def`

func scanClaimed(rows *sql.Rows, p taskstate.ClaimParams) ([]*taskstate.Task, error) {
	defer rows.Close()
	var (
		out      []*taskstate.Task
		now      = p.Now.UTC()
		until    = time.Unix(0, p.LeaseUntil.UnixNano()).UTC()
		from     = taskstate.Status(claimableStatus(p.From))
		withRes  = from == taskstate.StatusPartDone
		runAfter sql.NullInt64
		created  sql.NullInt64
	)
	dest := make([]any, 0, 10)
	for rows.Next() {
		t := &taskstate.Task{Status: taskstate.StatusRunning, StartedAt: now, UpdatedAt: now, ClaimedFrom: from,
			Lease: taskstate.Lease{Owner: p.Owner, Token: p.Token, Until: until}}
		dest = append(dest[:0], &t.ID, &t.Kind, &t.Priority, &t.Seq, &t.Attempts, &t.MaxAttempts, &runAfter, &created, &t.Def)
		if withRes {
			dest = append(dest, &t.Res)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		t.RunAfter, t.CreatedAt = fromNanos(runAfter), fromNanos(created)
		out = append(out, t)
	}
	return out, rows.Err()
}

func scanAll(rows *sql.Rows, payloads bool) ([]*taskstate.Task, error) {
	defer rows.Close()
	var out []*taskstate.Task
	for rows.Next() {
		t, err := scanTask(rows, payloads)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func scanTask(rows *sql.Rows, payloads bool) (*taskstate.Task, error) {
	var (
		t                                  taskstate.Task
		status, filter                     string
		lastErr, owner, token, claimedFrom sql.NullString
		leaseUntil, startedAt, finishedAt  sql.NullInt64
		runAfter, createdAt, updatedAt     sql.NullInt64
		dest                               = []any{&t.ID, &t.Kind, &t.Key, &status, &t.Priority, &t.Seq, &filter, &t.Attempts, &t.MaxAttempts, &lastErr, &owner, &token, &leaseUntil, &claimedFrom, &runAfter, &createdAt, &updatedAt, &startedAt, &finishedAt}
	)
	if payloads {
		dest = append(dest, &t.Def, &t.Res)
	}
	if err := rows.Scan(dest...); err != nil {
		return nil, err
	}
	t.Status = taskstate.Status(status)
	if err := json.Unmarshal([]byte(filter), &t.Filter); err != nil {
		return nil, fmt.Errorf("task %s: filter: %w", t.ID, err)
	}
	t.LastError = lastErr.String
	t.Lease = taskstate.Lease{Owner: owner.String, Token: token.String, Until: fromNanos(leaseUntil)}
	t.ClaimedFrom = taskstate.Status(claimedFrom.String)
	t.RunAfter = fromNanos(runAfter)
	t.CreatedAt = fromNanos(createdAt)
	t.UpdatedAt = fromNanos(updatedAt)
	t.StartedAt = fromNanos(startedAt)
	t.FinishedAt = fromNanos(finishedAt)
	return &t, nil
}

// Finish implements taskstate.Store.
func (s *Store) Finish(ctx context.Context, p taskstate.FinishParams) ([]bool, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	applied := make([]bool, len(p.Items))
	// Plain commits (the bulk of a busy pool) go through a narrower
	// statement that finds each row by its seq; the rest through the
	// general one. Each statement moves a chunk of items: the per-statement
	// cost dominates a batch of commits.
	var groups [2][]int // indexes into p.Items, by finish form
	for i, it := range p.Items {
		f := 0
		if commitForm.fits(it) {
			f = 1
		}
		groups[f] = append(groups[f], i)
	}
	// Statements are prepared before the transaction takes the writer's
	// only connection.
	for f, idx := range groups {
		for off := 0; off < len(idx); off += finishChunk {
			if _, err := s.wstmt(ctx, finishForms[f].sql(min(finishChunk, len(idx)-off))); err != nil {
				return nil, fmt.Errorf("sqlitestore: finish: %w", err)
			}
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: finish: %w", err)
	}
	defer tx.Rollback()
	now := p.Now.UnixNano()
	index := make(map[string]int, min(len(p.Items), finishChunk))
	moved := counts{}
	for f, idx := range groups {
		form := finishForms[f]
		for off := 0; off < len(idx); off += finishChunk {
			chunk := idx[off:min(off+finishChunk, len(idx))]
			st, err := s.txStmt(ctx, tx, form.sql(len(chunk)))
			if err != nil {
				return nil, fmt.Errorf("sqlitestore: finish: %w", err)
			}
			args := make([]any, 0, 3+form.cols*len(chunk))
			args = append(args, now, now)
			clear(index)
			for _, i := range chunk {
				args = form.args(args, p.Items[i])
				index[p.Items[i].ID] = i
			}
			args = append(args, p.Pool)
			rows, err := st.QueryContext(ctx, args...)
			if err != nil {
				return nil, fmt.Errorf("sqlitestore: finish: %w", err)
			}
			for rows.Next() {
				var id, to string
				if err := rows.Scan(&id, &to); err != nil {
					rows.Close()
					return nil, fmt.Errorf("sqlitestore: finish: %w", err)
				}
				applied[index[id]] = true
				moved.move(taskstate.StatusRunning, taskstate.Status(to), 1)
			}
			if err := rows.Close(); err != nil {
				return nil, fmt.Errorf("sqlitestore: finish: %w", err)
			}
		}
	}
	if err := s.addCounts(ctx, tx, p.Pool, moved); err != nil {
		return nil, fmt.Errorf("sqlitestore: finish: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlitestore: finish: %w", err)
	}
	return applied, nil
}

// finishChunk is the number of items one finish statement moves.
const finishChunk = 32

// finishForm is one shape of the fenced, batched move out of running: an
// UPDATE ... FROM (VALUES ...) whose arguments are, in order (plain ?
// placeholders: the driver binds numbered ones in quadratic time): now,
// now, cols values per item, then the pool. It returns the id and new
// status of every row it moved.
type finishForm struct {
	cols  int
	texts []string // by item count, built once
	// fits reports whether the form can carry it.
	fits func(it taskstate.Transition) bool
	// args appends it's values.
	args func(args []any, it taskstate.Transition) []any
}

func (f finishForm) sql(n int) string { return f.texts[n] }

func newFinishForm(cols int, head, where string, fits func(taskstate.Transition) bool, args func([]any, taskstate.Transition) []any) finishForm {
	f := finishForm{cols: cols, texts: make([]string, finishChunk+1), fits: fits, args: args}
	row := "(" + placeholders(cols) + ")"
	for n := 1; n <= finishChunk; n++ {
		f.texts[n] = head + " FROM (VALUES " + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ") + ") AS v " +
			where + " RETURNING tasks.id, tasks.status"
	}
	return f
}

var (
	// generalForm carries any transition. Per item: id, to, set_res, res,
	// set_error, last_error, run_after, undo_attempt, token.
	generalForm = newFinishForm(9, `UPDATE tasks SET status = v.column2,
		res = CASE WHEN v.column3 THEN v.column4 ELSE tasks.res END,
		last_error = CASE WHEN v.column5 THEN v.column6 ELSE tasks.last_error END,
		run_after = v.column7, attempts = tasks.attempts - v.column8,
		lease_owner = NULL, lease_token = NULL, lease_until = NULL, claimed_from = NULL,
		finished_at = CASE WHEN v.column2 IN ('done', 'part_done', 'failed') THEN ? ELSE tasks.finished_at END,
		updated_at = ?`,
		`WHERE tasks.id = v.column1 AND tasks.pool = ? AND tasks.status = 'running' AND tasks.lease_token = v.column9`,
		func(taskstate.Transition) bool { return true },
		func(args []any, it taskstate.Transition) []any {
			undo := 0
			if it.UndoAttempt {
				undo = 1
			}
			var runAfter int64
			if !it.RunAfter.IsZero() {
				runAfter = it.RunAfter.UnixNano()
			}
			return append(args, it.ID, string(it.To), it.SetRes, it.Res, it.SetError, it.LastError, runAfter, undo, it.Token)
		})
	// commitForm carries a commit whose row the caller knows (Seq): it
	// finds the row by its rowid, not through the id index, and binds
	// five values per item instead of nine. Per item: seq, id, to, res,
	// token.
	commitForm = newFinishForm(5, `UPDATE tasks SET status = v.column3, res = v.column4, run_after = 0,
		lease_owner = NULL, lease_token = NULL, lease_until = NULL, claimed_from = NULL,
		finished_at = ?, updated_at = ?`,
		`WHERE tasks.seq = v.column1 AND tasks.id = v.column2 AND tasks.pool = ? AND tasks.status = 'running' AND tasks.lease_token = v.column5`,
		func(it taskstate.Transition) bool {
			return it.Seq > 0 && it.SetRes && !it.SetError && it.RunAfter.IsZero() && !it.UndoAttempt &&
				(it.To == taskstate.StatusDone || it.To == taskstate.StatusPartDone)
		},
		func(args []any, it taskstate.Transition) []any {
			return append(args, it.Seq, it.ID, string(it.To), it.Res, it.Token)
		})
	// finishForms is indexed by the group Finish puts an item in.
	finishForms = [2]finishForm{generalForm, commitForm}
)

// Heartbeat implements taskstate.Store.
func (s *Store) Heartbeat(ctx context.Context, p taskstate.HeartbeatParams) ([]string, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: heartbeat: %w", err)
	}
	defer tx.Rollback()
	st, err := s.txStmt(ctx, tx, sqlHeartbeat)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: heartbeat: %w", err)
	}
	var lost []string
	for _, l := range p.Leases {
		res, err := st.ExecContext(ctx, p.Until.UnixNano(), p.Now.UnixNano(), l.ID, p.Pool, l.Token)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: heartbeat: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			lost = append(lost, l.ID)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlitestore: heartbeat: %w", err)
	}
	return lost, nil
}

// ListExpired implements taskstate.Store.
func (s *Store) ListExpired(ctx context.Context, p taskstate.ListExpiredParams) ([]*taskstate.Task, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+taskCols+` FROM tasks
		WHERE pool = ? AND status = 'running' AND lease_until < ? ORDER BY lease_until LIMIT ?`,
		p.Pool, p.Before.UnixNano(), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list expired: %w", err)
	}
	out, err := scanAll(rows, false)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list expired: %w", err)
	}
	return out, nil
}

// Update implements taskstate.Store.
func (s *Store) Update(ctx context.Context, p taskstate.UpdateParams) (int64, error) {
	cond, args, err := where(p.Query)
	if err != nil {
		return 0, err
	}
	sets := []string{"updated_at = ?"}
	sargs := []any{p.Now.UnixNano()}
	if p.Status != "" {
		sets = append(sets, "status = ?", "lease_owner = NULL", "lease_token = NULL", "lease_until = NULL", "claimed_from = NULL", "run_after = 0")
		sargs = append(sargs, string(p.Status))
	}
	if p.ResetAttempts {
		sets = append(sets, "attempts = 0", "last_error = NULL")
	}
	if p.Priority != nil {
		sets = append(sets, "priority = ?")
		sargs = append(sargs, *p.Priority)
	}
	q := "UPDATE tasks SET " + strings.Join(sets, ", ") + " WHERE pool = ? AND (" + cond + ")"
	n, err := s.rewrite(ctx, p.Pool, cond, args, p.Status, q, append(append(sargs, p.Pool), args...))
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: update: %w", err)
	}
	return n, nil
}

// Delete implements taskstate.Store.
func (s *Store) Delete(ctx context.Context, p taskstate.DeleteParams) (int64, error) {
	cond, args, err := where(p.Query)
	if err != nil {
		return 0, err
	}
	q := "DELETE FROM tasks WHERE pool = ? AND (" + cond + ")"
	n, err := s.rewrite(ctx, p.Pool, cond, args, deleted, q, append([]any{p.Pool}, args...))
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: delete: %w", err)
	}
	return n, nil
}

// deleted stands for "no status any more" in rewrite.
const deleted taskstate.Status = "\x00deleted"

// rewrite runs an UPDATE or DELETE (q with qargs) of the tasks matching
// cond and keeps pool_counts right: in one transaction it counts the
// matches by status, runs q, and moves those counts to status (or takes
// them away when status is deleted; an empty status changes nothing).
func (s *Store) rewrite(ctx context.Context, pool, cond string, cargs []any, status taskstate.Status, q string, qargs []any) (int64, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	c := counts{}
	if status != "" {
		rows, err := tx.QueryContext(ctx, "SELECT status, count(*) FROM tasks WHERE pool = ? AND ("+cond+") GROUP BY status",
			append([]any{pool}, cargs...)...)
		if err != nil {
			return 0, err
		}
		for rows.Next() {
			var (
				from string
				n    int
			)
			if err := rows.Scan(&from, &n); err != nil {
				rows.Close()
				return 0, err
			}
			if status == deleted {
				c[taskstate.Status(from)] -= n
			} else {
				c.move(taskstate.Status(from), status, n)
			}
		}
		if err := rows.Close(); err != nil {
			return 0, err
		}
	}
	res, err := tx.ExecContext(ctx, q, qargs...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if err := s.addCounts(ctx, tx, pool, c); err != nil {
		return 0, err
	}
	return n, tx.Commit()
}

// Query implements taskstate.Store.
func (s *Store) Query(ctx context.Context, p taskstate.QueryParams) iter.Seq2[*taskstate.Task, error] {
	return func(yield func(*taskstate.Task, error) bool) {
		cond, args, err := where(p.Query)
		if err != nil {
			yield(nil, err)
			return
		}
		cols := taskCols
		if p.Payloads {
			cols += ", def, res"
		}
		limit := p.Limit
		if limit <= 0 {
			limit = -1
		}
		rows, err := s.r.QueryContext(ctx, "SELECT "+cols+" FROM tasks WHERE pool = ? AND ("+cond+") ORDER BY seq LIMIT ?",
			append(append([]any{p.Pool}, args...), limit)...)
		if err != nil {
			yield(nil, fmt.Errorf("sqlitestore: query: %w", err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			t, err := scanTask(rows, p.Payloads)
			if err != nil {
				yield(nil, fmt.Errorf("sqlitestore: query: %w", err))
				return
			}
			if !yield(t, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(nil, fmt.Errorf("sqlitestore: query: %w", err))
		}
	}
}

// Get implements taskstate.Store.
func (s *Store) Get(ctx context.Context, p taskstate.GetParams) (*taskstate.Task, error) {
	cols := taskCols
	if p.Payloads {
		cols += ", def, res"
	}
	rows, err := s.r.QueryContext(ctx, "SELECT "+cols+" FROM tasks WHERE pool = ? AND id = ?", p.Pool, p.ID)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: get: %w", err)
	}
	tasks, err := scanAll(rows, p.Payloads)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: get: %w", err)
	}
	if len(tasks) == 0 {
		return nil, fmt.Errorf("%w: %s in pool %s", taskstate.ErrNotFound, p.ID, p.Pool)
	}
	return tasks[0], nil
}

// Stat implements taskstate.Store.
func (s *Store) Stat(ctx context.Context, p taskstate.StatParams) (taskstate.Counts, error) {
	var (
		rows *sql.Rows
		err  error
	)
	if p.Query.IsEmpty() {
		rows, err = s.r.QueryContext(ctx, `SELECT status, n FROM pool_counts WHERE pool = ?`, p.Pool)
	} else {
		cond, args, werr := where(p.Query)
		if werr != nil {
			return nil, werr
		}
		rows, err = s.r.QueryContext(ctx, "SELECT status, count(*) FROM tasks WHERE pool = ? AND ("+cond+") GROUP BY status",
			append([]any{p.Pool}, args...)...)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: stat: %w", err)
	}
	defer rows.Close()
	c := taskstate.NewCounts()
	for rows.Next() {
		var (
			st string
			n  int
		)
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("sqlitestore: stat: %w", err)
		}
		c[taskstate.Status(st)] += n
	}
	return c, rows.Err()
}

// ListPools implements taskstate.Store.
func (s *Store) ListPools(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT DISTINCT pool FROM pool_counts ORDER BY pool`)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list pools: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
