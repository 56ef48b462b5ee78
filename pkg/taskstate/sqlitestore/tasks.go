package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// insertChunk is the number of rows of the many-row INSERT of a create:
// the statement's fixed cost (bind, step, reset through database/sql) is
// most of a small row's, so it is paid once per chunk.
const insertChunk = 64

// insertCols is the number of arguments per inserted row; the key and
// its hash are the third and fourth (see insertRows).
const (
	insertCols = 11
	argKey     = 2
	argKH      = 3
)

// The INSERTs of one row and of insertChunk rows. A row whose key is in
// the pool already is skipped: the dedup tables hold only each key's
// hash (see sqlKeyTables), so the statement looks for the key itself
// among the rows of that hash in both, which are almost always none. The
// trigger tasks_insert_key adds each new row's hash to task_keys_recent.
var (
	sqlInsert      = insertRows(1)
	sqlInsertChunk = insertRows(insertChunk)
)

func insertRows(n int) string {
	row := "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	return `INSERT OR IGNORE INTO tasks
		(id, pool, key, kh, kind, status, priority, def, filter, max_attempts, created_at, updated_at)
		SELECT column1, column2, column3, column4, column5, 'waiting', column6, column7, column8, column9, column10, column11
		FROM (VALUES ` + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ") + `) AS v
		WHERE NOT EXISTS (SELECT 1 FROM task_keys AS k, tasks AS t
			WHERE k.kh = v.column4 AND t.seq = k.seq AND t.pool = v.column2 AND t.key = v.column3)
		AND NOT EXISTS (SELECT 1 FROM task_keys_recent AS r, tasks AS t
			WHERE r.kh = v.column4 AND t.seq = r.seq AND t.pool = v.column2 AND t.key = v.column3)`
}

// mergeAt is the default of Store.mergeAt: the task_keys_recent entries
// a create moves into task_keys. A million-task create in batches of
// 10,000 moves them ten times, each a sorted run that dirties every page
// of task_keys once (about 4,600 at a million tasks), against most of
// those pages per batch when every create wrote there (docs/BENCHMARKS.md,
// round 8). The create that moves them pays for it: 0.13–0.15 s at a
// million tasks.
const mergeAt = 100_000

// A create keeps the writer's 16 MiB page cache. A 64 MiB cache during
// bulk creates made a 1M create a third cheaper (the random dedup
// index stops spilling), but SQLite's page-cache hash never shrinks: every
// later transaction of the connection scanned the bigger table at its
// end, 4.5 µs more per task in a burn-down (docs/BENCHMARKS.md, "Create,
// round 4").

const (
	sqlSelectKey = `SELECT t.id FROM task_keys AS k, tasks AS t
		WHERE k.kh = ?3 AND t.seq = k.seq AND t.pool = ?1 AND t.key = ?2
		UNION ALL SELECT t.id FROM task_keys_recent AS r, tasks AS t
		WHERE r.kh = ?3 AND t.seq = r.seq AND t.pool = ?1 AND t.key = ?2`
	// A pair of (kh, seq) is in one table only, but a conflict must not
	// fail every later create: the entry is the same.
	sqlMergeKeys = `INSERT OR IGNORE INTO task_keys (kh, seq) SELECT kh, seq FROM task_keys_recent ORDER BY kh, seq;
		DELETE FROM task_keys_recent`
	sqlHeartbeat = `UPDATE tasks SET lease_until = ` + sqlNow + ` + ?, updated_at = ` + sqlNow + `
		WHERE id = ? AND pool = ? AND status = 'running' AND lease_token = ?`
)

// CreateTasks implements taskstate.Store.
func (s *Store) CreateTasks(ctx context.Context, p taskstate.CreateTasksParams) ([]taskstate.CreatedTask, error) {
	out := make([]taskstate.CreatedTask, len(p.Tasks))
	if p.DryRun {
		st, err := s.rstmt(ctx, sqlSelectKey)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: create: %w", err)
		}
		for i, t := range p.Tasks {
			var id string
			err := st.QueryRowContext(ctx, p.Pool, keyArg(t.Key), keyHash(p.Pool, t.Key)).Scan(&id)
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
	sctx := stmtContext(ctx)
	now := p.Now.UnixNano()
	created := 0
	order, repeatOf := distinctKeys(p.Tasks)
	args := make([]any, 0, insertCols*min(len(order), insertChunk))
	for off := 0; off < len(order); {
		// Whole chunks through the many-row statement, the rest one row
		// at a time: two statements prepared once, not one per length.
		n, q := insertChunk, sqlInsertChunk
		if len(order)-off < insertChunk {
			n, q = 1, sqlInsert
		}
		chunk := order[off : off+n]
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("sqlitestore: create: %w", err)
		}
		ins, err := s.txStmt(sctx, tx, q)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: create: %w", err)
		}
		args = args[:0]
		for _, i := range chunk {
			t := &p.Tasks[i]
			filter := t.FilterJSON
			if filter == nil {
				if filter, err = json.Marshal(t.Filter); err != nil {
					return nil, fmt.Errorf("sqlitestore: create: filter of task %d: %w", i, err)
				}
			}
			args = append(args, t.ID, p.Pool, keyArg(t.Key), keyHash(p.Pool, t.Key), t.Kind, t.Priority, t.Def, string(filter), t.MaxAttempts, now, now)
		}
		res, err := ins.ExecContext(sctx, args...)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: create: %w", err)
		}
		k, _ := res.RowsAffected()
		if int(k) == n {
			for _, i := range chunk {
				out[i] = taskstate.CreatedTask{ID: p.Tasks[i].ID, Created: true}
			}
		} else {
			// Some keys were in the pool already: the row under each key
			// is this call's task or the one that was there.
			sel, err := s.txStmt(sctx, tx, sqlSelectKey)
			if err != nil {
				return nil, fmt.Errorf("sqlitestore: create: %w", err)
			}
			for j, i := range chunk {
				row := args[j*insertCols:] // the key and its hash as inserted
				var id string
				if err := sel.QueryRowContext(sctx, p.Pool, row[argKey], row[argKH]).Scan(&id); err != nil {
					return nil, fmt.Errorf("sqlitestore: create: read existing task: %w", err)
				}
				out[i] = taskstate.CreatedTask{ID: id, Created: id == p.Tasks[i].ID}
			}
		}
		created += int(k)
		off += n
	}
	for i, first := range repeatOf {
		out[i] = taskstate.CreatedTask{ID: out[first].ID}
	}
	if err := s.addCounts(sctx, tx, p.Pool, counts{taskstate.StatusWaiting: created}); err != nil {
		return nil, fmt.Errorf("sqlitestore: create: %w", err)
	}
	merge := s.recentKeys.Add(int64(created)) >= s.mergeAt
	if merge {
		if _, err := tx.ExecContext(sctx, sqlMergeKeys); err != nil {
			return nil, fmt.Errorf("sqlitestore: create: merge keys: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlitestore: create: %w", err)
	}
	if merge {
		s.recentKeys.Store(0)
	}
	return out, nil
}

// distinctKeys returns the indexes of the tasks whose key no earlier task
// of the call has, in order, and for each other task the index of the
// first with its key. Keys in a call are distinct (the Manager folds
// repeats), but a repeat would not be skipped: an INSERT's look-up sees
// the rows from before the statement.
func distinctKeys(tasks []taskstate.NewTask) (order []int, repeatOf map[int]int) {
	if len(tasks) == 1 {
		return []int{0}, nil
	}
	seen := make(map[string]int, len(tasks))
	order = make([]int, 0, len(tasks))
	for i := range tasks {
		if first, ok := seen[tasks[i].Key]; ok {
			if repeatOf == nil {
				repeatOf = map[int]int{}
			}
			repeatOf[i] = first
			continue
		}
		seen[tasks[i].Key] = i
		order = append(order, i)
	}
	return order, repeatOf
}

// Claim implements taskstate.Store.
func (s *Store) Claim(ctx context.Context, p taskstate.ClaimParams) ([]*taskstate.Task, error) {
	c, err := s.prepareClaim(ctx, p)
	if err != nil || c == nil {
		return nil, err
	}
	var tasks []*taskstate.Task
	err = s.writeMoves(ctx, "claim", p.Pool, func(tx *sql.Tx, moved counts) (_ bool, err error) {
		tasks, err = c.run(ctx, tx, moved)
		return len(tasks) > 0, err
	})
	if err != nil {
		return nil, err
	}
	return sortClaimed(tasks), nil
}

// writeMoves runs run in one write transaction and, unless run wrote
// nothing (it then returns false and the transaction is rolled back),
// adds the moves it counted in moved to the pool's counters and commits.
// run's own errors come back as they are; op names the others.
func (s *Store) writeMoves(ctx context.Context, op, pool string, run func(tx *sql.Tx, moved counts) (wrote bool, err error)) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: %s: %w", op, err)
	}
	defer tx.Rollback()
	moved := counts{}
	if wrote, err := run(tx, moved); err != nil || !wrote {
		return err
	}
	if err := s.addCounts(stmtContext(ctx), tx, pool, moved); err != nil {
		return fmt.Errorf("sqlitestore: %s: %w", op, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: %s: %w", op, err)
	}
	return nil
}

// preparedClaim is a claim ready to run in a write transaction.
type preparedClaim struct {
	p     taskstate.ClaimParams
	st    *sql.Stmt
	cargs []any        // the query's arguments
	busy  *atomic.Bool // the claim hint of its shape
}

// claimShape is what a claim's SQL text depends on when it has no query;
// such texts are kept (Store.claimTexts), since building one cost a
// claim about 3.5 µs.
type claimShape struct {
	from  taskstate.Status
	kinds int
	limit int
}

// claimText is the SQL of a claim: the probe's read and the claim itself.
type claimText struct{ probe, claim string }

// prepareClaim validates p, probes for work (see below) and prepares the
// claim's statement before a transaction takes the writer. It returns nil
// when the probe found nothing to claim.
func (s *Store) prepareClaim(ctx context.Context, p taskstate.ClaimParams) (*preparedClaim, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	text, cargs, err := s.claimSQL(p)
	if err != nil {
		return nil, err
	}
	// An empty claim is a read: an index probe on a reader finds whether
	// there is anything to claim before the writer is taken, so an idle
	// worker polls without writing. The claim below stays atomic; the
	// probe only skips it when it would find nothing. While claims of the
	// same shape find work the probe is left out: it would find some, and
	// after each write the reader reads its pages again. A claim woken by
	// an event (p.Woken) leaves it out too: it would find the task the
	// event announced, and a pickup would wait for the read.
	busy := s.claimHint(p.Pool, p.From, p.Kinds)
	if !busy.Load() && !p.Woken {
		found, err := s.probe(ctx, text.probe, claimPickArgs(nil, p, nowArg(p.Now), cargs))
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: claim: %w", err)
		}
		if !found {
			return nil, nil
		}
	}
	st, err := s.wstmt(ctx, text.claim)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: claim: %w", err)
	}
	return &preparedClaim{p: p, st: st, cargs: cargs, busy: busy}, nil
}

// claimSQL returns the SQL of claim p and its query's arguments.
func (s *Store) claimSQL(p taskstate.ClaimParams) (claimText, []any, error) {
	shape := claimShape{p.From, len(p.Kinds), max(p.Limit, 1)}
	if len(p.Query.Conds) == 0 {
		if t, ok := s.claimTexts.Load(shape); ok {
			return t.(claimText), nil, nil
		}
	}
	cond, cargs, err := where(p.Query)
	if err != nil {
		return claimText{}, nil, err
	}
	pick := claimPick(shape, cond)
	cols := claimCols + ", lease_until" // started_at is lease_until - Lease
	if p.From == taskstate.StatusPartDone {
		cols += ", res" // phase two runs on phase one's result
	}
	t := claimText{
		probe: pick + " LIMIT 1",
		claim: `UPDATE tasks SET status = 'running', lease_owner = ?, lease_token = ?, lease_until = ` + sqlNow + ` + ?,
		claimed_from = status, started_at = ` + sqlNow + `, updated_at = ` + sqlNow + `, attempts = attempts + 1
		WHERE seq IN (` + pick + ` ORDER BY priority DESC, seq LIMIT ` + strconv.Itoa(shape.limit) + `) RETURNING ` + cols,
	}
	if len(p.Query.Conds) == 0 {
		s.claimTexts.Store(shape, t)
	}
	return t, cargs, nil
}

// run claims in tx and adds the moves to moved.
func (c *preparedClaim) run(ctx context.Context, tx *sql.Tx, moved counts) ([]*taskstate.Task, error) {
	p := c.p
	now := txNow(p.Now) // tx holds the writer: see txNow
	args := make([]any, 0, 9+len(p.Kinds)+len(c.cargs))
	args = claimPickArgs(append(args, p.Owner, p.Token, now, int64(p.Lease), now, now), p, now, c.cargs)
	// The claim keeps ctx: with kinds or a query it may read many tasks
	// that do not match before it finds one.
	rows, err := tx.StmtContext(ctx, c.st).QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: claim: %w", err)
	}
	tasks, err := scanClaimed(rows, p)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: claim: %w", err)
	}
	c.busy.Store(len(tasks) > 0)
	moved.move(taskstate.Status(claimableStatus(p.From)), taskstate.StatusRunning, len(tasks))
	return tasks, nil
}

// sortClaimed orders claimed tasks as the claim picked them: highest
// priority first, then creation order.
func sortClaimed(tasks []*taskstate.Task) []*taskstate.Task {
	sort.Slice(tasks, func(i, j int) bool {
		if tasks[i].Priority != tasks[j].Priority {
			return tasks[i].Priority > tasks[j].Priority
		}
		return tasks[i].Seq < tasks[j].Seq
	})
	return tasks
}

// claimPick returns the SELECT of the seqs a claim of shape may take
// (without ORDER BY and LIMIT), cond being its query's condition; its
// arguments are claimPickArgs.
func claimPick(shape claimShape, cond string) string {
	// Every time is the store's (sqlNow): the lease ends at its now +
	// Lease, and run_after is compared with its now. INDEXED BY: without
	// statistics SQLite may walk tasks_pool_seq, the whole pool, for a
	// probe that has no ORDER BY (67 ms in a pool of 100,000 finished
	// tasks; TestPlanClaimUsesStatusIndex).
	var pick strings.Builder
	from := claimableStatus(shape.from)
	pick.WriteString(`SELECT seq FROM tasks INDEXED BY ` + statusIndexes[taskstate.Status(from)] + ` WHERE pool = ? AND status = '` + from + `' AND run_after <= ` + sqlNow + sqlNotPaused)
	// The status and the limit are part of the SQL text, not bound: bound,
	// they make SQLite recompile the statement on every call, and only a
	// literal status lets it use the partial index tasks_waiting (or
	// tasks_part_done).
	if shape.kinds > 0 {
		pick.WriteString(" AND kind IN (" + placeholders(shape.kinds) + ")")
	}
	pick.WriteString(" AND (" + cond + ")")
	return pick.String()
}

// claimPickArgs appends the arguments of claim p's claimPick to args: now
// is sqlNow's, cargs its query's.
func claimPickArgs(args []any, p taskstate.ClaimParams, now any, cargs []any) []any {
	args = append(args, p.Pool, now, p.Pool)
	for _, k := range p.Kinds {
		args = append(args, k)
	}
	return append(args, cargs...)
}

// claimHint returns the flag that says whether the last claim of this
// shape (pool, status, kinds) found work.
func (s *Store) claimHint(pool string, from taskstate.Status, kinds []string) *atomic.Bool {
	key := pool + "\x00" + string(from) + "\x00" + strings.Join(kinds, "\x00")
	if h, ok := s.claimBusy.Load(key); ok {
		return h.(*atomic.Bool)
	}
	h, _ := s.claimBusy.LoadOrStore(key, new(atomic.Bool))
	return h.(*atomic.Bool)
}

// probe reports whether the read query q (a LIMIT 1 select) finds a row.
func (s *Store) probe(ctx context.Context, q string, args []any) (bool, error) {
	st, err := s.rstmt(ctx, q)
	if err != nil {
		return false, err
	}
	var seq int64
	switch err := st.QueryRowContext(ctx, args...).Scan(&seq); {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// claimableStatus returns s for the SQL text of a claim; only the two
// claimable statuses can reach it.
func claimableStatus(s taskstate.Status) string {
	if s == taskstate.StatusPartDone {
		return string(taskstate.StatusPartDone)
	}
	return string(taskstate.StatusWaiting)
}

// Finish implements taskstate.Store.
func (s *Store) Finish(ctx context.Context, p taskstate.FinishParams) ([]bool, error) {
	f, err := s.prepareFinish(ctx, p)
	if err != nil {
		return nil, err
	}
	var applied []bool
	err = s.writeMoves(ctx, "finish", p.Pool, func(tx *sql.Tx, moved counts) (_ bool, err error) {
		applied, err = f.run(ctx, tx, moved)
		return true, err
	})
	if err != nil {
		return nil, err
	}
	return applied, nil
}

// preparedFinish is a Finish ready to run in a write transaction: its
// items grouped by form, the statements prepared.
type preparedFinish struct {
	s      *Store
	p      taskstate.FinishParams
	groups [2][]int // indexes into p.Items, by finish form
}

// prepareFinish validates p and prepares its statements before a
// transaction takes the writer's only connection.
func (s *Store) prepareFinish(ctx context.Context, p taskstate.FinishParams) (*preparedFinish, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	f := &preparedFinish{s: s, p: p}
	// Plain commits (the bulk of a busy pool) go through a narrower
	// statement that finds each row by its seq; the rest through the
	// general one. Each statement moves a chunk of items: the per-statement
	// cost dominates a batch of commits.
	for i, it := range p.Items {
		g := 0
		if commitForm.fits(it) {
			g = 1
		}
		f.groups[g] = append(f.groups[g], i)
	}
	for g, idx := range f.groups {
		for off := 0; off < len(idx); off += finishChunk {
			if _, err := s.wstmt(ctx, finishForms[g].sql(min(finishChunk, len(idx)-off))); err != nil {
				return nil, fmt.Errorf("sqlitestore: finish: %w", err)
			}
		}
	}
	return f, nil
}

// run applies the transitions in tx, adds the moves to moved and reports
// which applied.
func (f *preparedFinish) run(ctx context.Context, tx *sql.Tx, moved counts) ([]bool, error) {
	p := f.p
	applied := make([]bool, len(p.Items))
	sctx := stmtContext(ctx)
	now := txNow(p.Now) // tx holds the writer
	index := make(map[string]int, min(len(p.Items), finishChunk))
	for g, idx := range f.groups {
		form := finishForms[g]
		for off := 0; off < len(idx); off += finishChunk {
			chunk := idx[off:min(off+finishChunk, len(idx))]
			st, err := f.s.txStmt(sctx, tx, form.sql(len(chunk)))
			if err != nil {
				return nil, fmt.Errorf("sqlitestore: finish: %w", err)
			}
			args := make([]any, 0, 3+form.nows+form.cols*len(chunk))
			for range form.nows {
				args = append(args, now)
			}
			clear(index)
			for _, i := range chunk {
				args = form.args(args, p.Items[i])
				index[p.Items[i].ID] = i
			}
			args = append(args, p.Pool)
			if form.fence {
				args = append(args, now)
			}
			rows, err := st.QueryContext(sctx, args...)
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
			if err := errors.Join(rows.Err(), rows.Close()); err != nil {
				return nil, fmt.Errorf("sqlitestore: finish: %w", err)
			}
		}
	}
	return applied, nil
}

// FinishAndClaim implements taskstate.FinishClaimer: the transitions,
// then the claim, in one write transaction, which pays one transaction's
// fixed part (the writer, the counters' page, the commit's frames)
// instead of two. A claim whose probe finds nothing is left out.
func (s *Store) FinishAndClaim(ctx context.Context, p taskstate.FinishAndClaimParams) (taskstate.FinishAndClaimResult, error) {
	var res taskstate.FinishAndClaimResult
	if p.Finish.Pool != p.Claim.Pool {
		return res, fmt.Errorf("sqlitestore: finish and claim: pools %q and %q differ", p.Finish.Pool, p.Claim.Pool)
	}
	f, err := s.prepareFinish(ctx, p.Finish)
	if err != nil {
		return res, err
	}
	c, err := s.prepareClaim(ctx, p.Claim)
	if err != nil {
		return res, err
	}
	err = s.writeMoves(ctx, "finish and claim", p.Finish.Pool, func(tx *sql.Tx, moved counts) (_ bool, err error) {
		if res.Applied, err = f.run(ctx, tx, moved); err != nil || c == nil {
			return true, err
		}
		res.Claimed, err = c.run(ctx, tx, moved)
		return true, err
	})
	if err != nil {
		return taskstate.FinishAndClaimResult{}, err
	}
	res.Claimed = sortClaimed(res.Claimed)
	return res, nil
}

// Heartbeat implements taskstate.Store.
func (s *Store) Heartbeat(ctx context.Context, p taskstate.HeartbeatParams) ([]string, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: heartbeat: %w", err)
	}
	defer tx.Rollback()
	now := txNow(p.Now)
	st, err := s.txStmt(ctx, tx, sqlHeartbeat)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: heartbeat: %w", err)
	}
	var lost []string
	for _, l := range p.Leases {
		res, err := st.ExecContext(ctx, now, int64(p.Lease), now, l.ID, p.Pool, l.Token)
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
	if err := p.Validate(); err != nil {
		return nil, err
	}
	limit := p.Limit
	if limit <= 0 {
		limit = -1
	}
	// A prepared statement: every worker's reaper runs this every few
	// seconds, and it finds nothing nearly always.
	st, err := s.rstmt(ctx, `SELECT `+taskCols+` FROM tasks
		WHERE pool = ? AND status = 'running' AND lease_until < `+sqlNow+` - ? ORDER BY lease_until LIMIT ?`)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list expired: %w", err)
	}
	rows, err := st.QueryContext(ctx, p.Pool, nowArg(p.Now), int64(p.Grace), limit)
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
	tbl, cond, args, err := s.indexedWhere(ctx, p.Pool, p.Query)
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
	if p.LastError != nil {
		sets = append(sets, "last_error = ?", "finished_at = ?")
		sargs = append(sargs, *p.LastError, p.Now.UnixNano())
	}
	if p.KeepCancelled {
		cond += ` AND substr(coalesce(last_error, ''), 1, ` + fmt.Sprint(len(taskstate.CancelledPrefix)) + `) <> '` + taskstate.CancelledPrefix + `'`
	}
	q := "UPDATE " + tbl + " SET " + strings.Join(sets, ", ") + " WHERE pool = ? AND (" + cond + ")"
	n, err := s.rewrite(ctx, p.Pool, tbl, cond, args, p.Status, q, append(append(sargs, p.Pool), args...))
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: update: %w", err)
	}
	return n, nil
}

// Delete implements taskstate.Store.
func (s *Store) Delete(ctx context.Context, p taskstate.DeleteParams) (int64, error) {
	tbl, cond, args, err := s.indexedWhere(ctx, p.Pool, p.Query)
	if err != nil {
		return 0, err
	}
	q := "DELETE FROM " + tbl + " WHERE pool = ? AND (" + cond + ")"
	n, err := s.rewrite(ctx, p.Pool, tbl, cond, args, deleted, q, append([]any{p.Pool}, args...))
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
func (s *Store) rewrite(ctx context.Context, pool, tbl, cond string, cargs []any, status taskstate.Status, q string, qargs []any) (int64, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	c := counts{}
	if status != "" {
		rows, err := tx.QueryContext(ctx, "SELECT status, count(*) FROM "+tbl+" WHERE pool = ? AND ("+cond+") GROUP BY status",
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
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
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
		tbl, cond, args, err := s.indexedWhere(ctx, p.Pool, p.Query)
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
		order := "seq"
		if p.Desc {
			order = "seq DESC"
		}
		rows, err := s.r.QueryContext(ctx, "SELECT "+cols+" FROM "+tbl+" WHERE pool = ? AND ("+cond+") ORDER BY "+order+" LIMIT ?",
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

// CountKinds implements taskstate.Store.
func (s *Store) CountKinds(ctx context.Context, p taskstate.CountKindsParams) (map[string]int, bool, error) {
	// One more than Limit is read, to tell "all" from "Limit".
	limit := max(p.Limit, 1)
	q, args, err := s.countKindsSQL(ctx, p.Pool, p.Query, limit+1)
	if err != nil {
		return nil, false, err
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, fmt.Errorf("sqlitestore: count kinds: %w", err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var k string
		var c int
		if err := rows.Scan(&k, &c); err != nil {
			return nil, false, fmt.Errorf("sqlitestore: count kinds: %w", err)
		}
		counts[k] = c
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("sqlitestore: count kinds: %w", err)
	}
	kinds, all := taskstate.CapKinds(counts, limit)
	return kinds, all, nil
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
		q, args, werr := s.statSQL(ctx, p.Pool, p.Query)
		if werr != nil {
			return nil, werr
		}
		rows, err = s.r.QueryContext(ctx, q, args...)
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
