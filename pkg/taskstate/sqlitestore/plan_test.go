package sqlitestore

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// plan returns SQLite's EXPLAIN QUERY PLAN of the statement, one detail
// per line.
func plan(t *testing.T, s *Store, q string, args []any) string {
	t.Helper()
	rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
	require.NoError(t, err)
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &notused, &detail))
		lines = append(lines, detail)
	}
	require.NoError(t, rows.Err())
	return strings.Join(lines, "\n")
}

func openPlanStore(t *testing.T) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "tasks.db"))
}

// openAt opens a store on path, closed with the test.
func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Config{Path: path})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// TestPlanIDListUsesIDIndex: a count over an _id list reads the id index
// whatever the list's length and whatever else the query says; without
// INDEXED BY, SQLite takes a pool index from five ids on.
func TestPlanIDListUsesIDIndex(t *testing.T) {
	t.Parallel()
	s := openPlanStore(t)
	for _, n := range []int{1, 5, 1000} {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = taskstate.NewID()
		}
		for _, q := range []taskstate.Query{
			taskstate.ByIDs(ids...),
			taskstate.ByIDs(ids...).Where(taskstate.FieldStatus, taskstate.OpEq, "waiting"),
			taskstate.ByIDs(ids...).Where("filter.model.class", taskstate.OpEq, "LGBModel"),
		} {
			sql, args, err := s.statSQL(t.Context(), "p", q)
			require.NoError(t, err)
			p := plan(t, s, sql, args)
			require.Contains(t, p, "USING INDEX "+idIndex+" (id=?)", "%d ids, %d conditions:\n%s", n, len(q.Conds), p)
			require.NotContains(t, p, "SCAN tasks", "%d ids:\n%s", n, p)
		}
	}
	// A list with null cannot use the index; the statement must still run.
	q := taskstate.Query{}.Where(taskstate.FieldID, taskstate.OpIn, []any{nil, taskstate.NewID()})
	require.Equal(t, "tasks", from(q))
	_, err := s.Stat(t.Context(), taskstate.StatParams{Pool: "p", Query: q})
	require.NoError(t, err)
}

// TestPlanPathIndex: once a path is indexed, an equality or $in on it
// searches the index (the pool's partial index) instead of scanning.
func TestPlanPathIndex(t *testing.T) {
	t.Parallel()
	s := openPlanStore(t)
	ctx := t.Context()
	const field = "filter.model.class"
	q := taskstate.Query{}.Where(field, taskstate.OpIn, []any{"LGBModel", 3.0})
	sql, args, err := s.statSQL(ctx, "p", q)
	require.NoError(t, err)
	require.NotContains(t, plan(t, s, sql, args), "tasks_path_", "no index declared yet")

	require.NoError(t, s.CreatePathIndex(ctx, taskstate.PathIndexParams{Pool: "p", Field: field}))
	require.NoError(t, s.CreatePathIndex(ctx, taskstate.PathIndexParams{Pool: "p", Field: field}), "declaring twice")
	got, err := s.PathIndexes(ctx, "p")
	require.NoError(t, err)
	require.Equal(t, []string{field}, got)
	got, err = s.PathIndexes(ctx, "other")
	require.NoError(t, err)
	require.Empty(t, got)

	for _, q := range []taskstate.Query{
		q,
		taskstate.Query{}.Where(field, taskstate.OpEq, "LGBModel").Where(taskstate.FieldStatus, taskstate.OpEq, "done"),
	} {
		sql, args, err := s.statSQL(ctx, "p", q)
		require.NoError(t, err)
		p := plan(t, s, sql, args)
		require.Contains(t, p, "USING INDEX "+indexName("p", field), p)
		require.NotContains(t, p, "tasks_pool_seq", p)
	}
	// Another pool has no index on the path.
	sql, args, err = s.statSQL(ctx, "other", q)
	require.NoError(t, err)
	require.NotContains(t, plan(t, s, sql, args), "tasks_path_")
}

// BenchmarkPlans times the counts the issue names over a pool of
// b.N-independent size (100k tasks: big enough that a scan shows).
func BenchmarkPlans(b *testing.B) {
	s, err := Open(context.Background(), Config{Path: filepath.Join(b.TempDir(), "tasks.db")})
	require.NoError(b, err)
	defer s.Close()
	ctx := context.Background()
	const n = 100_000
	var ids []string
	for off := 0; off < n; off += 10_000 {
		batch := make([]taskstate.NewTask, 10_000)
		for i := range batch {
			batch[i] = taskstate.NewTask{ID: taskstate.NewID(), Kind: "noop", Key: fmt.Sprint(off + i),
				Filter: map[string]any{"i": off + i, "model": map[string]any{"class": fmt.Sprint("M", (off+i)%100)}}}
			if len(ids) < 1000 {
				ids = append(ids, batch[i].ID)
			}
		}
		_, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "p", Tasks: batch, Now: time.Now()})
		require.NoError(b, err)
	}
	require.NoError(b, s.CreatePathIndex(ctx, taskstate.PathIndexParams{Pool: "p", Field: "filter.model.class"}))
	for name, q := range map[string]taskstate.Query{
		"ids1000": taskstate.ByIDs(ids...),
		"path":    taskstate.Query{}.Where("filter.model.class", taskstate.OpEq, "M7"),
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				_, err := s.Stat(ctx, taskstate.StatParams{Pool: "p", Query: q})
				require.NoError(b, err)
			}
		})
	}
}

// TestPlanStatusPagesUsePartialIndexes: a keyset page of failed or
// part_done tasks reads that status's partial index in seq order; a page
// of the whole pool, or of waiting or done tasks, walks tasks_pool_seq in
// seq order; none sorts.
func TestPlanStatusPagesUsePartialIndexes(t *testing.T) {
	t.Parallel()
	s := openPlanStore(t)
	page := func(q taskstate.Query) string {
		tbl, cond, args, err := s.indexedWhere(t.Context(), "p", q)
		require.NoError(t, err)
		return plan(t, s, "SELECT id FROM "+tbl+" WHERE pool = ? AND ("+cond+") ORDER BY seq LIMIT 50", append([]any{"p"}, args...))
	}
	for st, index := range map[taskstate.Status]string{
		taskstate.StatusPartDone: "tasks_part_done_seq", taskstate.StatusFailed: "tasks_failed_seq",
		taskstate.StatusWaiting: "tasks_pool_seq", taskstate.StatusDone: "tasks_pool_seq",
	} {
		p := page(taskstate.ByStatus(st).Where(taskstate.FieldSeq, taskstate.OpGt, 1000))
		require.Contains(t, p, "USING INDEX "+index, "%s:\n%s", st, p)
		require.NotContains(t, p, "TEMP B-TREE", "%s: no sort:\n%s", st, p)
	}
	p := page(taskstate.Query{}.Where(taskstate.FieldSeq, taskstate.OpGt, 1000))
	require.Contains(t, p, "tasks_pool_seq", p)
	require.NotContains(t, p, "TEMP B-TREE", p)
}

// TestPlanClaimUsesStatusIndex: a claim's pick reads the partial index of
// its status (tasks_waiting, tasks_part_done), with or without kinds and a
// query, never the pool's other indexes: the probe before a claim has no
// ORDER BY, and without statistics SQLite walked tasks_pool_seq, the whole
// pool, instead.
func TestPlanClaimUsesStatusIndex(t *testing.T) {
	t.Parallel()
	s := openPlanStore(t)
	for _, p := range []taskstate.ClaimParams{
		{Pool: "p", From: taskstate.StatusWaiting},
		{Pool: "p", From: taskstate.StatusWaiting, Kinds: []string{"a", "b"}},
		{Pool: "p", From: taskstate.StatusPartDone, Query: taskstate.Query{}.Where("filter.model.class", taskstate.OpEq, "LGBModel")},
	} {
		p.Limit = 8
		text, cargs, err := s.claimSQL(p)
		require.NoError(t, err)
		index := "tasks_" + string(p.From)
		args := claimPickArgs(nil, p, nil, cargs)
		probe := plan(t, s, text.probe, args)
		require.Contains(t, probe, "USING INDEX "+index+" (pool=?", "probe of %+v:\n%s", p, probe)
		claim := plan(t, s, text.claim, append([]any{"o", "t", nil, 1, nil, nil}, args...))
		require.Contains(t, claim, "USING INDEX "+index+" (pool=?", "claim of %+v:\n%s", p, claim)
		require.NotContains(t, claim, "TEMP B-TREE", "claim of %+v: no sort:\n%s", p, claim)
	}
}

// TestClaimTextKept: the SQL of a claim without a query is built once per
// shape and kept; one with a query is built each time (its text holds the
// query's condition) and not kept.
func TestClaimTextKept(t *testing.T) {
	t.Parallel()
	s := openPlanStore(t)
	kept := func() (n int) {
		s.claimTexts.Range(func(any, any) bool { n++; return true })
		return n
	}
	q := taskstate.Query{}.Where("filter.model.class", taskstate.OpEq, "LGBModel")
	withQuery, _, err := s.claimSQL(taskstate.ClaimParams{Pool: "p", From: taskstate.StatusWaiting, Query: q, Limit: 4})
	require.NoError(t, err)
	require.Contains(t, withQuery.claim, "json_extract", "the query's condition is in the text")
	require.Zero(t, kept(), "a claim with a query is not kept")

	a, _, err := s.claimSQL(taskstate.ClaimParams{Pool: "p", From: taskstate.StatusWaiting, Limit: 4})
	require.NoError(t, err)
	require.Equal(t, 1, kept())
	b, _, err := s.claimSQL(taskstate.ClaimParams{Pool: "other", From: taskstate.StatusWaiting, Limit: 4})
	require.NoError(t, err)
	require.Equal(t, a, b, "the pool is an argument, not text")
	require.Equal(t, 1, kept())
	c, _, err := s.claimSQL(taskstate.ClaimParams{Pool: "p", From: taskstate.StatusWaiting, Kinds: []string{"x"}, Limit: 4})
	require.NoError(t, err)
	require.NotEqual(t, a, c)
	require.Contains(t, c.claim, "kind IN (?)")
	d, _, err := s.claimSQL(taskstate.ClaimParams{Pool: "p", From: taskstate.StatusPartDone, Limit: 4})
	require.NoError(t, err)
	require.Contains(t, d.claim, "'part_done'")
	require.Contains(t, d.claim, ", res", "phase two returns phase one's result")
	e, _, err := s.claimSQL(taskstate.ClaimParams{Pool: "p", From: taskstate.StatusWaiting, Limit: 9})
	require.NoError(t, err)
	require.Contains(t, e.claim, "LIMIT 9)")
	require.Equal(t, 4, kept())
}

// TestPlanCountKindsUsesStatusIndex: CountKinds over one status reads that
// status's partial index, never the pool's other indexes (a resume counts
// the kinds of the waiting tasks of a pool that may hold a million done
// ones); over anything else it takes the plan of any query.
func TestPlanCountKindsUsesStatusIndex(t *testing.T) {
	t.Parallel()
	s := openPlanStore(t)
	for st, index := range statusIndexes {
		for _, q := range []taskstate.Query{taskstate.ByStatus(st), taskstate.ByStatus(st).Where(taskstate.FieldKind, taskstate.OpEq, "k")} {
			sql, args, err := s.countKindsSQL(t.Context(), "p", q, 100)
			require.NoError(t, err)
			p := plan(t, s, sql, args)
			require.Contains(t, p, "USING INDEX "+index, "%s:\n%s", st, p)
		}
	}
	sql, args, err := s.countKindsSQL(t.Context(), "p", taskstate.ByIDs(taskstate.NewID(), taskstate.NewID()), 100)
	require.NoError(t, err)
	require.Contains(t, plan(t, s, sql, args), "USING INDEX "+idIndex)
}

// TestPlanCreateSearchesKeyHash: a create's look-up of each key, in the
// INSERT and in the read of an existing task, is one search of each dedup
// table (k: task_keys, r: task_keys_recent) and of tasks by seq.
func TestPlanCreateSearchesKeyHash(t *testing.T) {
	t.Parallel()
	s := openPlanStore(t)
	row := []any{taskstate.NewID(), "p", []byte{1}, int64(7), "k", 0, []byte{1}, "{}", 0, 1, 1}
	for _, c := range []struct {
		sql  string
		args []any
	}{
		{sqlInsert, row},
		{sqlInsertChunk, slices.Repeat(row, insertChunk)},
		{sqlSelectKey, []any{"p", []byte{1}, int64(7)}},
	} {
		p := plan(t, s, c.sql, c.args)
		require.Contains(t, p, "SEARCH k USING PRIMARY KEY (kh=?)", p)
		require.Contains(t, p, "SEARCH r USING PRIMARY KEY (kh=?)", p)
		require.Contains(t, p, "SEARCH t USING INTEGER PRIMARY KEY (rowid=?)", p)
		require.NotRegexp(t, `(?m)SCAN (tasks|t|k|r)$`, p)
	}
}
