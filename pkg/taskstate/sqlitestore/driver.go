package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// pragma is one connection setting.
type pragma struct{ name, value string }

// pragmas are the settings of every connection, in order. busy_timeout
// comes first so that the others wait for a busy file too.
func pragmas(busy time.Duration) []pragma {
	return []pragma{
		{"busy_timeout", fmt.Sprint(busy.Milliseconds())},
		{"journal_mode", "WAL"},
		{"synchronous", "NORMAL"},
		{"foreign_keys", "OFF"},
		{"wal_autocheckpoint", "20000"},
		// 16 MiB. A bigger cache costs every write transaction a scan of
		// it when the transaction ends (pcache1Truncate).
		{"cache_size", "-16384"},
	}
}

// openDB opens a handle on path through modernc.org/sqlite (SQLite compiled
// to Go: no C compiler needed). Write transactions begin IMMEDIATE, so they
// take the file's write lock up front and wait for it with the busy
// timeout instead of failing on upgrade.
func openDB(path string, busy time.Duration) (*sql.DB, error) {
	q := url.Values{}
	for _, p := range pragmas(busy) {
		q.Add("_pragma", p.name+"("+p.value+")")
	}
	q.Set("_txlock", "immediate")
	return sql.Open("sqlite", "file:"+path+"?"+q.Encode())
}

// isBusy reports whether err is SQLITE_BUSY.
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// stmtContext returns ctx without its cancellation, for the statements of
// a write transaction whose cost is bounded: BEGIN and COMMIT, a chunk of
// a create, a chunk of commits, a counter update. modernc watches a
// cancellable context with a goroutine and a progress callback for each
// statement it runs: 6-12 µs of a one-task create (docs/BENCHMARKS.md,
// round 7). These statements end in well under a millisecond; the caller's
// context still bounds the wait for the writer's flock and is checked
// between the chunks of a create. A statement that may read without bound
// (a claim with kinds or a query, a bulk update) keeps the caller's.
func stmtContext(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }
