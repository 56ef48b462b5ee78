package sqlitestore

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCheckHeaderCountsTheWAL builds the state a busy file is in most of
// the time: a PASSIVE checkpoint held back by a reader's snapshot copies
// page 1, with the grown page count, but not the last page, written again
// after the snapshot. The file is then shorter than its header says and
// the WAL holds the rest: healthy, not truncated. Cut by hand, with the
// WAL fully copied in, the same file is damaged.
func TestCheckHeaderCountsTheWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grow.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=wal_autocheckpoint(0)")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(3)
	ctx := t.Context()
	exec := func(q string) {
		t.Helper()
		_, err := db.ExecContext(ctx, q)
		require.NoError(t, err)
	}
	exec(`CREATE TABLE t (x BLOB)`)
	exec(`INSERT INTO t VALUES (zeroblob(100))`)
	exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	// Grow the file by many pages: page 1 gets the new count.
	exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) INSERT INTO t SELECT randomblob(1000) FROM n`)

	reader, err := db.Conn(ctx)
	require.NoError(t, err)
	defer reader.Close()
	_, err = reader.ExecContext(ctx, `BEGIN`)
	require.NoError(t, err)
	var n int
	require.NoError(t, reader.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n)) // the snapshot
	exec(`UPDATE t SET x = randomblob(1000) WHERE rowid = (SELECT max(rowid) FROM t)`) // the last page, after it
	exec(`PRAGMA wal_checkpoint(PASSIVE)`)

	fi, err := os.Stat(path)
	require.NoError(t, err)
	pages, pageSize := headerPages(t, path)
	require.Less(t, fi.Size(), pages*pageSize, "the layout this test needs: the checkpoint left the last page in the WAL")
	require.True(t, walHoldsAt(t, path, fi.Size()/pageSize+1, pages))
	require.NoError(t, CheckHeader(path, fi.Size()), "the WAL holds the missing pages")

	_, err = reader.ExecContext(ctx, `COMMIT`)
	require.NoError(t, err)
	exec(`PRAGMA wal_checkpoint(PASSIVE)`)
	require.False(t, walHoldsAt(t, path, pages, pages), "every frame copied in")
	fi, err = os.Stat(path)
	require.NoError(t, err)
	require.NoError(t, CheckHeader(path, fi.Size()))
	require.NoError(t, os.Truncate(path, fi.Size()/2))
	require.ErrorContains(t, CheckHeader(path, fi.Size()/2), "truncated")
}

// headerPages reads the page count and page size of path's header.
func headerPages(t *testing.T, path string) (pages, pageSize int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(b), 100)
	return int64(b[28])<<24 | int64(b[29])<<16 | int64(b[30])<<8 | int64(b[31]), int64(b[16])<<8 | int64(b[17])
}

// walHoldsAt is walHolds on the WAL index of the database at path.
func walHoldsAt(t *testing.T, path string, first, last int64) (holds bool) {
	t.Helper()
	require.NoError(t, readFile(path, func(h *heldFile) error {
		holds = walHolds(h.walIndex(), first, last)
		return nil
	}))
	return holds
}
