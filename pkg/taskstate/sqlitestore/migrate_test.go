package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// TestMigrateFromV1 opens a file written by the first schema (counts kept
// by triggers, one index over every status) and checks that Open moves it
// to the current one: the counts are rebuilt, the triggers are gone (a
// trigger left behind would count every move twice), and the tasks can be
// claimed and committed.
func TestMigrateFromV1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	v1, err := os.ReadFile("testdata/schema_v1.sql")
	require.NoError(t, err)
	db, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	_, err = db.Exec(string(v1))
	require.NoError(t, err)
	for i, st := range []string{"waiting", "waiting", "waiting", "done", "failed"} {
		// Version 1 stored the Manager's key, a SHA-256 in hex, as text.
		key := taskstate.Key("noop", map[string]any{"i": float64(i)})
		_, err := db.Exec(`INSERT INTO tasks (id, pool, key, kind, status, filter, created_at, updated_at)
			VALUES (?, 'p', ?, 'noop', ?, ?, 1, 1)`, fmt.Sprintf("%024x", i), key, st, fmt.Sprintf(`{"i":%d}`, i))
		require.NoError(t, err)
	}
	_, err = db.Exec(`UPDATE pool_counts SET n = 99 WHERE status = 'done'`) // a drifted counter is rebuilt
	require.NoError(t, err)
	require.NoError(t, db.Close())

	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: path})
	require.NoError(t, err)
	defer s.Close()
	c, err := s.Stat(ctx, taskstate.StatParams{Pool: "p"})
	require.NoError(t, err)
	require.Equal(t, taskstate.Counts{"waiting": 3, "running": 0, "part_done": 0, "done": 1, "failed": 1}, c)

	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "p"})
	require.NoError(t, err)
	// Dedup still finds the tasks written with hex keys, and Get shows the
	// key as before.
	again, err := m.Create(ctx, []taskstate.TaskSpec{{Kind: "noop", Def: map[string]any{"i": 3}}}, taskstate.CreateOptions{})
	require.NoError(t, err)
	require.Equal(t, []string{fmt.Sprintf("%024x", 3)}, again.IDs)
	require.Zero(t, again.NewCount)
	got, err := m.Get(ctx, fmt.Sprintf("%024x", 3))
	require.NoError(t, err)
	require.Equal(t, taskstate.Key("noop", map[string]any{"i": 3.0}), got.Key)
	tasks, err := m.Claim(ctx, taskstate.ClaimOptions{Owner: "w", Limit: 10})
	require.NoError(t, err)
	require.Len(t, tasks, 3)
	for _, task := range tasks {
		require.NoError(t, m.Commit(ctx, task, "ok", ""))
	}
	c, err = m.Stat(ctx, taskstate.Query{})
	require.NoError(t, err)
	require.Equal(t, taskstate.Counts{"waiting": 0, "running": 0, "part_done": 0, "done": 4, "failed": 1}, c)

	check, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	defer check.Close()
	var triggers, version int
	require.NoError(t, check.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND name LIKE 'tasks_count_%'`).Scan(&triggers))
	require.NoError(t, check.QueryRow(`PRAGMA user_version`).Scan(&version))
	require.Zero(t, triggers)
	require.Equal(t, 11, version)
	var textKeys int
	require.NoError(t, check.QueryRow(`SELECT count(*) FROM tasks WHERE typeof(key) = 'text'`).Scan(&textKeys))
	require.Zero(t, textKeys, "every hex key is stored as its bytes")
	requireDedupByHash(t, check)

	// Opening again leaves a current file alone.
	s2, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: path})
	require.NoError(t, err)
	c, err = s2.Stat(ctx, taskstate.StatParams{Pool: "p"})
	require.NoError(t, err)
	require.Equal(t, 4, c[taskstate.StatusDone])
	require.NoError(t, s2.Close())

	// An older build opens the file: it creates its triggers and index
	// again (IF NOT EXISTS) and adds a task. The next Open of this build
	// removes them and recounts, so later moves are counted once.
	_, err = check.Exec(string(v1))
	require.NoError(t, err)
	_, err = check.Exec(`INSERT INTO tasks (id, pool, key, kind, status, filter, created_at, updated_at)
		VALUES ('0000000000000000000000ff', 'p', ?, 'noop', 'waiting', '{"z":1}', 1, 1)`, taskstate.Key("noop", map[string]any{"z": 1.0}))
	require.NoError(t, err)
	s3, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: path})
	require.NoError(t, err)
	defer s3.Close()
	require.NoError(t, check.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND name LIKE 'tasks_count_%'`).Scan(&triggers))
	require.Zero(t, triggers, "the older build's triggers are removed")
	m3, err := taskstate.NewManager(taskstate.Config{Store: s3, Pool: "p"})
	require.NoError(t, err)
	tasks, err = m3.Claim(ctx, taskstate.ClaimOptions{Owner: "w", Limit: 10})
	require.NoError(t, err)
	require.Len(t, tasks, 1)
	require.NoError(t, m3.Commit(ctx, tasks[0], "ok", ""))
	c, err = m3.Stat(ctx, taskstate.Query{})
	require.NoError(t, err)
	require.Equal(t, taskstate.Counts{"waiting": 0, "running": 0, "part_done": 0, "done": 5, "failed": 1}, c)
	again, err = m3.Create(ctx, []taskstate.TaskSpec{{Kind: "noop", Def: map[string]any{"z": 1}}}, taskstate.CreateOptions{})
	require.NoError(t, err)
	require.Equal(t, []string{"0000000000000000000000ff"}, again.IDs, "the older build's hex key was converted too")
	requireDedupByHash(t, check)
}

// requireDedupByHash checks a migrated file's dedup tables: every task
// has its key's hash and one entry in task_keys or task_keys_recent, and
// the indexes of versions 1 to 10 (tasks_pool_key, tasks_kh) are gone.
func requireDedupByHash(t *testing.T, db *sql.DB) {
	t.Helper()
	var unhashed, unkeyed, entries, tasks, oldIndexes int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM tasks WHERE kh IS NULL`).Scan(&unhashed))
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM tasks AS t
		WHERE NOT EXISTS (SELECT 1 FROM task_keys AS k WHERE k.kh = t.kh AND k.seq = t.seq)
		AND NOT EXISTS (SELECT 1 FROM task_keys_recent AS r WHERE r.kh = t.kh AND r.seq = t.seq)`).Scan(&unkeyed))
	require.NoError(t, db.QueryRow(`SELECT (SELECT count(*) FROM task_keys) + (SELECT count(*) FROM task_keys_recent), (SELECT count(*) FROM tasks)`).Scan(&entries, &tasks))
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name IN ('tasks_pool_key', 'tasks_kh')`).Scan(&oldIndexes))
	require.Zero(t, unhashed, "tasks without kh")
	require.Zero(t, unkeyed, "tasks without a dedup entry")
	require.Equal(t, tasks, entries, "one dedup entry per task")
	require.Zero(t, oldIndexes, "tasks_pool_key or tasks_kh")
}

// fileWith returns a current file holding specs in pool "p", their ids,
// and the file opened without a store (closed with the test), for a test
// to turn into an older version's.
func fileWith(t *testing.T, specs []taskstate.TaskSpec) (string, []string, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "old.db")
	s, err := sqlitestore.Open(t.Context(), sqlitestore.Config{Path: path})
	require.NoError(t, err)
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "p"})
	require.NoError(t, err)
	res, err := m.Create(t.Context(), specs, taskstate.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	db, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return path, res.IDs, db
}

// reopen opens path with a store (closed with the test), checks that it
// migrated the file to version 11, and returns a Manager of pool "p".
func reopen(t *testing.T, path string, db *sql.DB) *taskstate.Manager {
	t.Helper()
	s, err := sqlitestore.Open(t.Context(), sqlitestore.Config{Path: path})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	var version int
	require.NoError(t, db.QueryRow(`PRAGMA user_version`).Scan(&version))
	require.Equal(t, 11, version)
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "p"})
	require.NoError(t, err)
	return m
}

// TestMigrateFromV10 moves version 10's dedup index on tasks (kh) into
// the dedup tables: the tasks created before are still found, and a
// repeat of one is not created again.
func TestMigrateFromV10(t *testing.T) {
	ctx := context.Background()
	var specs []taskstate.TaskSpec
	for i := range 100 {
		specs = append(specs, taskstate.TaskSpec{Kind: "noop", Def: map[string]any{"i": i}})
	}
	path, first, db := fileWith(t, specs)
	_, err := db.Exec(`DROP TRIGGER tasks_insert_key; DROP TRIGGER tasks_delete_key;
		DROP TABLE task_keys; DROP TABLE task_keys_recent;
		CREATE INDEX tasks_kh ON tasks (kh);
		PRAGMA user_version = 10`)
	require.NoError(t, err)

	m := reopen(t, path, db)
	requireDedupByHash(t, db)
	again, err := m.Create(ctx, append(specs, taskstate.TaskSpec{Kind: "noop", Def: map[string]any{"i": "new"}}), taskstate.CreateOptions{})
	require.NoError(t, err)
	require.Equal(t, first, again.IDs[:100])
	require.Equal(t, 1, again.NewCount)
	requireDedupByHash(t, db)
}

// TestMigrateFromV2 converts the hex keys of a version 2 file.
func TestMigrateFromV2(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v2.db")
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: path})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	db, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	defer db.Close()
	key := taskstate.Key("noop", map[string]any{"v": 2.0})
	_, err = db.Exec(`INSERT INTO tasks (id, pool, key, kind, status, filter, created_at, updated_at)
		VALUES ('000000000000000000000002', 'p', ?, 'noop', 'waiting', '{"v":2}', 1, 1)`, key)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO pool_counts (pool, status, n) VALUES ('p', 'waiting', 1); PRAGMA user_version = 2`)
	require.NoError(t, err)

	s, err = sqlitestore.Open(ctx, sqlitestore.Config{Path: path})
	require.NoError(t, err)
	defer s.Close()
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "p"})
	require.NoError(t, err)
	res, err := m.Create(ctx, []taskstate.TaskSpec{{Kind: "noop", Def: map[string]any{"v": 2}}}, taskstate.CreateOptions{})
	require.NoError(t, err)
	require.Equal(t, []string{"000000000000000000000002"}, res.IDs)
	var version int
	require.NoError(t, db.QueryRow(`PRAGMA user_version`).Scan(&version))
	require.Equal(t, 11, version)
	requireDedupByHash(t, db)
}

// TestNewerSchemaRefused: a file written by a newer build is not touched.
func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	db, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	_, err = db.Exec(`PRAGMA user_version = 99`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	_, err = sqlitestore.Open(context.Background(), sqlitestore.Config{Path: path})
	require.ErrorContains(t, err, "schema version 99 is newer")
}

// TestMigrateLogsFromV5 rebuilds the task_logs of a version 5 file with the
// phase in its key: the kept logs become phase one's, and they still go
// with their task.
func TestMigrateLogsFromV5(t *testing.T) {
	ctx := context.Background()
	path, ids, db := fileWith(t, []taskstate.TaskSpec{{Kind: "noop", Def: map[string]any{"i": 1}}, {Kind: "noop", Def: map[string]any{"i": 2}}})
	_, err := db.Exec(`DROP TRIGGER tasks_delete_logs; DROP TABLE task_logs;
		CREATE TABLE task_logs (task_id TEXT NOT NULL, attempt INTEGER NOT NULL, pool TEXT NOT NULL, total INTEGER NOT NULL,
			tail BLOB NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (task_id, attempt));
		CREATE TRIGGER tasks_delete_logs AFTER DELETE ON tasks BEGIN DELETE FROM task_logs WHERE task_id = old.id; END;
		PRAGMA user_version = 5`)
	require.NoError(t, err)
	for i, id := range ids {
		_, err = db.Exec(`INSERT INTO task_logs VALUES (?, 2, 'p', 9, ?, 1)`, id, fmt.Sprintf("log %d", i))
		require.NoError(t, err)
	}

	m := reopen(t, path, db)
	logs, err := m.Logs(ctx, ids[0], "", 0)
	require.NoError(t, err)
	require.Len(t, logs, 1)
	require.Equal(t, taskstate.StatusWaiting, logs[0].Phase)
	require.Equal(t, 2, logs[0].Attempt)
	require.Equal(t, "log 0", string(logs[0].Tail))
	require.NoError(t, m.PutLog(ctx, taskstate.TaskLog{ID: ids[0], Phase: taskstate.StatusPartDone, Attempt: 2, Total: 3, Tail: []byte("two")}))
	logs, err = m.Logs(ctx, ids[0], "", 2)
	require.NoError(t, err)
	require.Len(t, logs, 2, "phase two's attempt 2 is kept apart from phase one's")
	_, err = m.Remove(ctx, taskstate.ByIDs(ids[0]), false)
	require.NoError(t, err)
	logs, err = m.Logs(ctx, ids[0], "", 0)
	require.NoError(t, err)
	require.Empty(t, logs, "the trigger is back: logs go with their task")
	logs, err = m.Logs(ctx, ids[1], "", 0)
	require.NoError(t, err)
	require.Len(t, logs, 1)
}
