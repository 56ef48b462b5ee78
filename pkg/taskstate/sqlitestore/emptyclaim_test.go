package sqlitestore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// TestEmptyClaimIsARead holds SQLite's write lock from another connection
// (as a busy writer in another process would) and claims: a claim that
// finds nothing to claim returns at once without error, since it only
// reads; a claim that finds a task needs the writer and waits for it (here
// past the store's busy timeout), which shows the lock was held. So does a
// claim woken by an event (ClaimParams.Woken), which skips the read.
func TestEmptyClaimIsARead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tasks.db")
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: path, BusyTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	_, err = s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "busy", Now: time.Now(), Tasks: []taskstate.NewTask{{
		ID: taskstate.NewID(), Kind: "noop", Key: "k", Def: []byte{1}, Filter: map[string]any{}, MaxAttempts: 1,
	}}})
	require.NoError(t, err)

	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = conn.ExecContext(ctx, "BEGIN IMMEDIATE")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = conn.ExecContext(ctx, "ROLLBACK") })

	claim := func(pool string, kinds ...string) ([]*taskstate.Task, error) {
		return s.Claim(ctx, taskstate.ClaimParams{Pool: pool, From: taskstate.StatusWaiting, Kinds: kinds, Owner: "w", Token: taskstate.NewToken(), Lease: time.Minute, Limit: 4})
	}
	// Each would wait out the busy timeout and fail if it took the writer.
	got, err := claim("empty")
	require.NoError(t, err, "an empty claim must not need the writer")
	require.Empty(t, got)
	got, err = claim("busy", "other")
	require.NoError(t, err, "a claim of a kind the pool has none of must not need the writer")
	require.Empty(t, got)

	_, err = claim("busy", "noop")
	require.Error(t, err, "a claim that finds a task needs the writer, which the other connection holds")

	_, err = s.Claim(ctx, taskstate.ClaimParams{Pool: "empty", From: taskstate.StatusWaiting, Owner: "w", Token: taskstate.NewToken(), Lease: time.Minute, Limit: 4, Woken: true})
	require.Error(t, err, "a woken claim skips the read and takes the writer, even in an empty pool")
}
