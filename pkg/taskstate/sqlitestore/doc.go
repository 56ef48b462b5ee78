// Package sqlitestore is the embedded taskstate backend: one SQLite file
// (modernc.org/sqlite, pure Go, no cgo), safe for several processes at once.
//
// All pools share one table, tasks; seq is the rowid and so the creation
// order. Dedup finds a task by its pool and key (a SHA-256, stored as its
// 32 bytes) through a 64-bit hash of the two: a create looks for the key
// among the rows of its hash (almost always none) and inserts in the same
// write transaction. The hashes are in two tables of (hash, seq): a
// create adds to the small task_keys_recent (by trigger), and every
// 100,000 new tasks one create moves those entries into task_keys in one
// sorted run. A hash index that every create grew at a random place
// dirtied most of its pages per large create once it held several
// hundred thousand tasks; the sorted run dirties each page once.
//
// Claims use one partial index per status a worker looks for
// (tasks_waiting and tasks_part_done ordered by priority DESC, seq;
// tasks_running by lease expiry for the reaper), so a finished task is in
// no status index and a commit removes one entry and adds none. Another
// table, pool_counts, holds the number of tasks per pool and status;
// every write that moves tasks updates it in the same transaction, once
// per batch, so Stat over a whole pool reads five rows however large the
// pool is. The schema version is PRAGMA user_version;
// Open migrates older files, and removes the counting triggers again if a
// process of an older build (which counted with triggers) has opened the
// file since. Upgrade every process that shares a file together: while an
// older one still runs, its triggers count each move a second time until
// the next Open of this build.
//
// The database runs in WAL mode with a busy timeout. Every write is one
// IMMEDIATE transaction, so concurrent writers in other processes queue on
// SQLite's write lock instead of failing. Before it begins, a write
// transaction takes an exclusive flock on PATH-wlock and lets go when it
// ends: a writer of another process waits for it in the kernel and wakes
// when it is free, instead of sleeping on SQLite's busy schedule (1, 2, 5,
// 10 ms...) while transactions last a fraction of a millisecond. The flock
// only orders writers; SQLite's locks still keep the file safe. They are
// POSIX locks, which a process loses on a file when it closes any
// descriptor of it: what this package reads beside SQLite (the header
// check's database header and WAL index) goes through descriptors held
// open while a store of the process has the file open (heldfile.go). A
// store that is the only one with the file open (on Linux each open store
// holds a read lock on a byte of PATH-wlock, which one fcntl asks about,
// at most every 100 ms) skips the flock. A claim is one UPDATE … WHERE seq
// IN (SELECT … ORDER BY priority DESC, seq LIMIT n) RETURNING statement:
// atomic, so no task is ever claimed twice. Every write about a running
// task is fenced on (id, status = 'running', lease_token). Before it, a
// read on the same index finds whether there is anything to claim: an
// empty claim takes no write lock, so idle workers poll without writing.
// The read is left out while claims of the same shape find work, and for
// a claim a wake-up asked for (ClaimParams.Woken).
// FinishAndClaim (taskstate.FinishClaimer) runs a worker's batch of
// commits and its next claim in one write transaction, so the fixed part
// of a write transaction (the writer, the counters' row, the commit's WAL
// frames) is paid once per batch instead of twice: about 220 µs a batch
// of 64 here (docs/BENCHMARKS.md, round 10).
//
// Checkpoints. Each store copies the pages that its writes added to the
// WAL into the database file every second (Config.CheckpointInterval), a
// PASSIVE checkpoint on a connection of its own, beside the writers.
// SQLite's own checkpoint, in the commit that brings the WAL to 20,000
// pages, stays: it is what lets the next writer start the WAL over, and it
// now copies about a second's pages instead of 20,000 while the writer
// (and with several processes, every writer) waits: a burn-down is 8-12 %
// faster (docs/BENCHMARKS.md, round 11).
//
// Every lease end and expiry is the clock of the file's host, in whole
// milliseconds: a claim or heartbeat stores its now + the lease, the
// reaper lists and fences on lease_until < now - grace, a retry's
// run_after is now + the backoff. Reads compute it inside the statement
// (unixepoch('subsec'), the same for every row of a statement); a write
// reads it once in Go after its transaction has the writer (clock.go),
// which on the file's one host is the same clock (every process that
// shares a SQLite file runs on its host: SQLite's locks do not work
// across a network file system). The worker passes durations only, so
// its own clock does not matter.
//
// Queries translate to SQL: dotted paths into the def (filter.model.class)
// become json_extract(filter, '$."model"."class"'), with type guards so
// comparisons follow MongoDB's rule that only values of the same type
// compare. Arrays match as in MongoDB: a condition holds on an array when
// it holds on the whole array or on one of its elements (json_each), $ne
// and $nin hold when $eq and $in do not, and a numeric path component
// (filter.segments.0) indexes an array.
//
// Plans. A query on an _id list reads the id index (INDEXED BY), whatever
// the list's length: without statistics SQLite would take the pool's index
// from five ids on and scan the pool. Dotted paths are indexed when
// declared, per pool (Store.CreatePathIndex, `dispatcher index --path
// model.class`), as in MongoDB, rather than automatically for every
// scalar leaf: an index costs every create and delete of the pool a write
// per indexed path, defs are free-form (a leaf indexed automatically may
// never be queried), and MongoDB, the other backend, indexes only what is
// declared too. A declared index is a partial expression index on
// json_extract(filter, path) over the pool's rows (WHERE pool = 'P'). An
// $eq or $in of strings and numbers on the path reads its candidates from
// it: the rows whose value there is one of them and the rows whose value
// is an array (JSON text from "[" to "\"), then tests each exactly, so a
// query matches the same tasks with or without the index. Other operators
// on the path ($ne, $gt, $exists...) and boolean or null values still read
// every task of the pool.
package sqlitestore
