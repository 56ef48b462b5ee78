package sqlitestore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
)

// Several processes on one file take turns on SQLite's write lock, and one
// that finds it taken sleeps on SQLite's busy schedule: 1, 2, 5, 10, 15,
// 20, 25 ms... while a write transaction lasts a fraction of a
// millisecond. Four worker processes lost a third of one process's
// throughput that way. So each write transaction first takes an exclusive
// flock on PATH-wlock: a waiter sleeps in the kernel and wakes when the
// holder lets go. The flock only orders the writers; SQLite's own locks
// still keep the file safe (a process that does not take it, such as an
// older build or the sqlite3 shell, is still excluded by them).
//
// A store that is the only one with the file open skips the flock: two
// system calls a transaction, 2-7 µs on a virtual machine
// (docs/BENCHMARKS.md, round 7). It asks whether it is alone at
// most every aloneRecheck; a process that opens the file meanwhile waits on
// SQLite's busy handler until then, and both take the flock after.

// aloneRecheck is how long a writer trusts its last answer to whether it
// is the only store with the file open.
const aloneRecheck = 100 * time.Millisecond

// writerConnector opens the writer's connections: modernc's, with write
// transactions under the flock.
type writerConnector struct {
	dsn    string
	lock   *fileLock
	busy   time.Duration
	joined bool // lock marks the file as open by this store (see alone)

	checked  atomic.Int64 // when alone was last asked, Unix nanoseconds
	wasAlone atomic.Bool  // its answer
	waited   atomic.Int64 // when a writer last found the flock taken, Unix nanoseconds
	wrote    atomic.Int64 // writes that ended: commits and statements (see checkpointer)
}

// alone reports whether this is the only store with the file open, from
// an answer at most aloneRecheck old.
func (c *writerConnector) alone() bool {
	if !c.joined {
		return false
	}
	now := time.Now().UnixNano()
	if now-c.checked.Load() < int64(aloneRecheck) {
		return c.wasAlone.Load()
	}
	a := c.lock.alone()
	c.wasAlone.Store(a)
	c.checked.Store(now)
	return a
}

// shared reports whether another store wrote within aloneRecheck: a
// writer of this store found the flock taken by it. A store that only
// reads the file (a dispatcher's stat) does not count.
func (c *writerConnector) shared() bool {
	return time.Now().UnixNano()-c.waited.Load() < int64(aloneRecheck)
}

// openWriter is openDB for the writer handle.
func openWriter(path string, busy time.Duration) (*sql.DB, *writerConnector, error) {
	q := url.Values{}
	for _, p := range pragmas(busy) {
		q.Add("_pragma", p.name+"("+p.value+")")
	}
	q.Set("_txlock", "immediate")
	l, err := openFileLock(path + "-wlock")
	if err != nil {
		return nil, nil, err
	}
	c := &writerConnector{dsn: "file:" + path + "?" + q.Encode(), lock: l, busy: busy, joined: l.join()}
	return sql.OpenDB(c), c, nil
}

func (c *writerConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.Driver().Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &lockedConn{conn: conn, c: c}, nil
}

func (c *writerConnector) Driver() driver.Driver { return &sqlite.Driver{} }

// Close closes the lock file; sql.DB.Close calls it.
func (c *writerConnector) Close() error { return c.lock.close() }

// lockedConn is a modernc connection whose transactions hold the flock.
type lockedConn struct {
	conn driver.Conn
	c    *writerConnector
}

// The interfaces database/sql looks for, forwarded to modernc's conn.
var (
	_ driver.ConnBeginTx        = (*lockedConn)(nil)
	_ driver.ConnPrepareContext = (*lockedConn)(nil)
	_ driver.ExecerContext      = (*lockedConn)(nil)
	_ driver.QueryerContext     = (*lockedConn)(nil)
	_ driver.SessionResetter    = (*lockedConn)(nil)
	_ driver.Validator          = (*lockedConn)(nil)
	_ driver.Pinger             = (*lockedConn)(nil)
	_ driver.NamedValueChecker  = (*lockedConn)(nil)
	_ driver.Conn               = (*lockedConn)(nil)
)

func (l *lockedConn) Prepare(q string) (driver.Stmt, error) { return l.conn.Prepare(q) }
func (l *lockedConn) Close() error                          { return l.conn.Close() }
func (l *lockedConn) Begin() (driver.Tx, error) {
	return l.BeginTx(context.Background(), driver.TxOptions{})
}

func (l *lockedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	var lock *fileLock // nil: alone, no flock
	if !l.c.alone() {
		if !l.c.lock.try() {
			l.c.waited.Store(time.Now().UnixNano())
			if err := l.c.lock.wait(ctx, l.c.busy); err != nil {
				return nil, err
			}
		}
		lock = l.c.lock
	}
	// BEGIN and COMMIT run without ctx's cancellation (see stmtContext);
	// ctx bounded the wait above, the flock, which is where a writer waits.
	// A wait on SQLite's own lock (behind a writer that skips the flock)
	// is bounded by the busy timeout alone.
	tx, err := l.conn.(driver.ConnBeginTx).BeginTx(stmtContext(ctx), opts)
	if err != nil {
		lock.unlock()
		return nil, err
	}
	return &lockedTx{tx: tx, lock: lock, wrote: &l.c.wrote}, nil
}

func (l *lockedConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	st, err := l.conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return countedStmt{st, &l.c.wrote}, nil
}

func (l *lockedConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	defer l.c.wrote.Add(1) // after it ends: a checkpoint then finds what it wrote
	return l.conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

// countedStmt is a writer's statement (modernc's), counted in wrote each
// time it runs: outside a transaction a statement is its own write.
type countedStmt struct {
	driver.Stmt
	wrote *atomic.Int64
}

var (
	_ driver.StmtExecContext  = countedStmt{}
	_ driver.StmtQueryContext = countedStmt{}
)

func (s countedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	defer s.wrote.Add(1)
	return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s countedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	defer s.wrote.Add(1)
	return s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
}

func (l *lockedConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	return l.conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

func (l *lockedConn) ResetSession(ctx context.Context) error {
	return l.conn.(driver.SessionResetter).ResetSession(ctx)
}

func (l *lockedConn) IsValid() bool { return l.conn.(driver.Validator).IsValid() }

func (l *lockedConn) Ping(ctx context.Context) error { return l.conn.(driver.Pinger).Ping(ctx) }

// CheckNamedValue lets every argument through to modernc's own
// conversion, as database/sql does for a conn without a checker.
func (l *lockedConn) CheckNamedValue(nv *driver.NamedValue) error {
	if c, ok := l.conn.(driver.NamedValueChecker); ok {
		return c.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// lockedTx lets go of the flock, if it took it, when the transaction ends.
type lockedTx struct {
	tx    driver.Tx
	lock  *fileLock     // nil: not taken
	wrote *atomic.Int64 // writerConnector.wrote
}

func (t *lockedTx) Commit() error {
	defer t.lock.unlock()
	defer t.wrote.Add(1) // after the commit: a checkpoint then finds it
	return t.tx.Commit()
}

func (t *lockedTx) Rollback() error {
	defer t.lock.unlock()
	return t.tx.Rollback()
}

// errWriterLockTimeout is returned when the flock stays taken longer than
// the busy timeout.
var errWriterLockTimeout = errors.New("sqlitestore: another process held the write lock past the busy timeout")

// wait takes l, which try found taken, waiting in the kernel, until ctx
// ends or timeout passes. The wait runs on a waiter of its own (a
// duplicate of the descriptor, so that closing the store never races with
// it); a wait given up leaves a goroutine that lets go of the lock as soon
// as it gets it.
func (l *fileLock) wait(ctx context.Context, timeout time.Duration) error {
	w, err := l.waiter()
	if err != nil {
		return fmt.Errorf("sqlitestore: write lock: %w", err)
	}
	got := make(chan error, 1)
	go func() { got <- w.wait() }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err = <-got:
		w.close()
		if err != nil {
			return fmt.Errorf("sqlitestore: write lock: %w", err)
		}
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-t.C:
		err = errWriterLockTimeout
	}
	go func() {
		if <-got == nil {
			w.unlock()
		}
		w.close()
	}()
	return err
}

// openFileLock opens (creating) the lock file at path.
func openFileLock(path string) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open write lock: %w", err)
	}
	return newFileLock(f), nil
}

func (l *fileLock) close() error { return l.f.Close() }
