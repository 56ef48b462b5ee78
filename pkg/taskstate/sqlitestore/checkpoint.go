package sqlitestore

import (
	"context"
	"database/sql"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// SQLite copies the WAL's pages back into the database file (a checkpoint)
// inside the commit that brings the WAL to wal_autocheckpoint pages
// (20,000, see pragmas), on the writer's connection: the writer, and with
// several processes on one file every process's writer (they wait on the
// writers' flock), waits for the copy. In a burn-down that was one commit
// in a few hundred taking 0.3 s. So a checkpointer of each store copies
// the pages every second, with a PASSIVE checkpoint on a connection of its
// own, beside the writers and readers (SQLite lets one checkpoint run
// alongside them; a second one at the same time returns at once). The
// commit's checkpoint stays: it is what lets the next writer start the
// WAL over (a checkpoint beside a busy writer never finds the WAL
// finished, and the WAL would grow without bound), and it now copies only
// the pages of the last second.

// DefaultCheckpointInterval is the default of Config.CheckpointInterval.
const DefaultCheckpointInterval = time.Second

// checkpointer runs a PASSIVE checkpoint every interval in which its store
// wrote (it copies every process's pages). Its goroutine is the store's:
// Open starts it, Close stops it.
type checkpointer struct {
	path     string        // the database file
	db       *sql.DB       // one connection, the checkpointer's
	wrote    *atomic.Int64 // the store's writes so far (writerConnector.wrote)
	interval time.Duration
	stop     context.CancelFunc
	done     sync.WaitGroup

	// The last run's answer, for tests: the WAL's pages, and how many of
	// them are in the database file.
	log, copied atomic.Int64
	skipped     atomic.Int64 // runs left out: the file failed CheckHeader
	checked     chan<- bool  // told after each look, whether it ran (tests)
}

// startCheckpointer opens the checkpointer's connection to path and
// starts it on the writes counted in wrote; checked, when not nil, is told
// after each look whether it ran a checkpoint.
func startCheckpointer(path string, busy, interval time.Duration, wrote *atomic.Int64, checked chan<- bool) (*checkpointer, error) {
	db, err := openDB(path, busy)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{path: path, db: db, wrote: wrote, interval: interval, stop: cancel, checked: checked}
	c.done.Add(1)
	go func() {
		defer c.done.Done()
		c.loop(ctx)
	}()
	return c, nil
}

// loop checkpoints every interval in which the store wrote, until ctx
// ends. A look is an atomic load: a store that does not write (a
// dispatcher's stat, an idle worker) never checkpoints, and one idle
// worker's write does not make fifty others copy it.
func (c *checkpointer) loop(ctx context.Context) {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	seen := int64(-1) // the first look checkpoints what is there
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := c.wrote.Load()
		changed := n != seen
		if changed {
			seen = n
			c.run(ctx)
		}
		if c.checked != nil {
			select {
			case c.checked <- changed:
			case <-ctx.Done():
			}
		}
	}
}

// run runs one PASSIVE checkpoint: it copies what no reader still needs
// and returns at once when another connection is checkpointing. A failure
// leaves the pages in the WAL for the next run (or the last connection's
// close), so it is not reported.
func (c *checkpointer) run(ctx context.Context) {
	// A checkpoint writes pages back at their offsets and first lengthens
	// the file to the database's size: in a file cut short under the
	// store, it would fill the cut with zeros and hide the damage from
	// the health check (CheckHeader), which must see it to stop the
	// worker. So a file that fails the check is left alone.
	if fi, err := os.Stat(c.path); err != nil || CheckHeader(c.path, fi.Size()) != nil {
		c.skipped.Add(1)
		return
	}
	var busy, log, copied int64
	if err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &copied); err == nil {
		c.log.Store(log)
		c.copied.Store(copied)
	}
}

// close stops the checkpointer, waiting for a run in progress (its
// statement is interrupted), and closes its connection.
func (c *checkpointer) close() error {
	c.stop()
	c.done.Wait()
	return c.db.Close()
}
