package sqlitestore_test

import (
	"context"
	"database/sql"
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
		_, err := db.Exec(`INSERT INTO tasks (id, pool, key, kind, status, filter, created_at, updated_at)
			VALUES (?, 'p', ?, 'noop', ?, '{}', 1, 1)`, "t"+string(rune('a'+i)), "k"+string(rune('a'+i)), st)
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
	require.NoError(t, check.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'`).Scan(&triggers))
	require.NoError(t, check.QueryRow(`PRAGMA user_version`).Scan(&version))
	require.Zero(t, triggers)
	require.Equal(t, 2, version)

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
		VALUES ('tz', 'p', 'kz', 'noop', 'waiting', '{}', 1, 1)`)
	require.NoError(t, err)
	s3, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: path})
	require.NoError(t, err)
	defer s3.Close()
	require.NoError(t, check.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'`).Scan(&triggers))
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
