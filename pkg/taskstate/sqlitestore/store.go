package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
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
	// CheckpointInterval is how often the store copies the pages that
	// writes added to the WAL into the database file (a PASSIVE
	// checkpoint), on a connection of its own, beside the writers: after
	// each interval in which it wrote (see checkpointer). Default 1 s.
	// Negative: never; only SQLite's own checkpoint, in the commit that
	// brings the WAL to 20,000 pages, copies them.
	CheckpointInterval time.Duration

	// checkpointChecked, when set, is told after each look of the
	// checkpointer whether it checkpointed (tests).
	checkpointChecked chan<- bool
}

// Store is a taskstate.Store over one SQLite file.
type Store struct {
	w  *sql.DB // one connection: writes queue here, not on SQLite's lock
	wc *writerConnector
	r  *sql.DB // reads, in parallel with the writer (WAL)

	// Prepared statements by SQL text: preparing is most of the cost of a
	// small write (it compiles the counting triggers too).
	wstmts, rstmts sync.Map // string -> *sql.Stmt
	// claimBusy says, per claim shape, whether the last claim found work
	// (see Claim).
	claimBusy sync.Map // string -> *atomic.Bool
	// claimTexts holds the SQL of claims without a query by shape.
	claimTexts sync.Map // claimShape -> claimText

	// recentKeys counts the entries of task_keys_recent, as far as this
	// store knows: those there when it opened and those its creates
	// added since. Another process's creates and merges make it wrong
	// either way, which only moves the next merge. A create that brings
	// it to mergeAt moves them into task_keys (see sqlKeyTables).
	recentKeys atomic.Int64
	mergeAt    int64

	ckpt *checkpointer // nil: CheckpointInterval < 0
	// release lets go of the descriptors the header check reads through
	// (holdFile).
	release func()
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
	if cfg.CheckpointInterval == 0 {
		cfg.CheckpointInterval = DefaultCheckpointInterval
	}
	if dir := filepath.Dir(cfg.Path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("sqlitestore: create directory for %s: %w", cfg.Path, err)
		}
	}
	release, err := holdFile(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", cfg.Path, err)
	}
	w, wc, err := openWriter(cfg.Path, cfg.BusyTimeout)
	if err != nil {
		release()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", cfg.Path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := openDB(cfg.Path, cfg.BusyTimeout)
	if err != nil {
		w.Close()
		release()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", cfg.Path, err)
	}
	r.SetMaxOpenConns(cfg.MaxReaders)
	r.SetMaxIdleConns(cfg.MaxReaders)
	s := &Store{w: w, wc: wc, r: r, mergeAt: mergeAt, release: release}
	if err := s.migrateRetry(ctx, cfg.BusyTimeout); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", cfg.Path, err)
	}
	var recent int64
	if err := r.QueryRowContext(ctx, `SELECT count(*) FROM task_keys_recent`).Scan(&recent); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", cfg.Path, err)
	}
	s.recentKeys.Store(recent)
	// Statements used inside write transactions are prepared now: the
	// writer has one connection, which a transaction holds.
	for _, q := range append([]string{sqlInsert, sqlInsertChunk, sqlSelectKey, sqlHeartbeat, generalForm.sql(1), commitForm.sql(1)}, countSQLs[1:]...) {
		if _, err := s.wstmt(ctx, q); err != nil {
			s.Close()
			return nil, fmt.Errorf("sqlitestore: open %s: prepare: %w", cfg.Path, err)
		}
	}
	if cfg.CheckpointInterval > 0 {
		if s.ckpt, err = startCheckpointer(cfg.Path, cfg.BusyTimeout, cfg.CheckpointInterval, &wc.wrote, cfg.checkpointChecked); err != nil {
			s.Close()
			return nil, fmt.Errorf("sqlitestore: open %s: %w", cfg.Path, err)
		}
	}
	return s, nil
}

// Shared implements taskstate.Shared: whether another store (of this or
// another process) wrote to the file within the last 100 ms, as this
// store's writers see it (they found the writers' flock taken).
func (s *Store) Shared() bool { return s.wc.shared() }

// Close closes the database.
func (s *Store) Close() error {
	var ckptErr error
	if s.ckpt != nil {
		ckptErr = s.ckpt.close()
	}
	for _, m := range []*sync.Map{&s.wstmts, &s.rstmts} {
		m.Range(func(_, st any) bool { st.(*sql.Stmt).Close(); return true })
	}
	err := errors.Join(ckptErr, s.w.Close(), s.r.Close())
	s.release() // after SQLite's connections: see holdFile
	return err
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
