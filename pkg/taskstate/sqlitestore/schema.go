package sqlitestore

// schemaVersion is stored in PRAGMA user_version. Version 1 kept
// pool_counts with triggers and indexed every task by status; version 2
// keeps the counts in the statements that move tasks (one counter update
// per batch, not three trigger statements per row) and indexes only the
// tasks in the statuses workers look for, so a commit touches one index
// entry instead of two. Version 3 stores each dedup key as its 32 bytes (a
// BLOB) instead of 64 hex characters: the (pool, key) index, which every
// create searches and grows at a random place, is half the size. Version 4
// adds task_logs, the kept output of each attempt (its tables are created
// IF NOT EXISTS, so older files only gain them). Version 5 adds artifacts
// and artifact_chunks, the files of each attempt (created the same way).
// Version 6 keys task_logs by phase too: attempts are counted per phase.
// Version 7 adds pool_state and workers (opsSchema, created the same way).
// Version 8 adds tasks_pool_seq and tasks_pool_status_seq, the indexes of
// keyset pages (created the same way). Version 9 replaces
// tasks_pool_status_seq, whose entry every claim and every commit moved
// (a quarter of a no-op task's CPU), with partial indexes for the pages of
// the statuses few tasks pass through (failed, part_done). Version 10
// replaces the unique (pool, key) index with tasks_kh, an index of a
// 64-bit hash of the pool and key (column kh): the index every create
// grows at a random place is a quarter the size (4,586 pages at a million
// tasks against about 18,000), and a million-task create runs 1.7 times
// as fast (docs/BENCHMARKS.md, round 6). A create looks for the key among
// the rows of its hash, in the same write transaction. Version 11 moves
// that index out of tasks into two tables of (kh, seq), task_keys and
// task_keys_recent (see sqlKeyTables): a create grows the small one, and
// the large one grows in sorted runs.
const schemaVersion = 11

// schema is the current schema. pool_counts holds the number of tasks per
// (pool, status); every statement that inserts, deletes or moves tasks
// updates it in the same transaction, so Stat reads a handful of rows.
const schema = `
CREATE TABLE IF NOT EXISTS tasks (
	seq          INTEGER PRIMARY KEY,
	id           TEXT    NOT NULL UNIQUE,
	pool         TEXT    NOT NULL,
	key          TEXT    NOT NULL,
	kh           INTEGER, -- keyHash(pool, key), see task_keys
	kind         TEXT    NOT NULL,
	status       TEXT    NOT NULL,
	priority     INTEGER NOT NULL DEFAULT 0,
	def          BLOB,
	filter       TEXT    NOT NULL,
	res          BLOB,
	attempts     INTEGER NOT NULL DEFAULT 0,
	max_attempts INTEGER NOT NULL DEFAULT 0,
	last_error   TEXT,
	lease_owner  TEXT,
	lease_token  TEXT,
	lease_until  INTEGER,
	claimed_from TEXT,
	run_after    INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	started_at   INTEGER,
	finished_at  INTEGER
);
-- Dedup: a create finds a key through its hash (sqlKeyTables). Every
-- write of tasks is one write transaction, so a create's look-up and
-- insert cannot interleave with another's.
` + sqlKeyTables + `
-- One small index per status a worker looks for, each holding only the
-- tasks in that status: a claim moves an entry from tasks_waiting to
-- tasks_running, a commit takes it out of tasks_running, and a finished
-- task is in none (queries over done tasks find the pool's rows through
-- tasks_pool_seq). The statements that use them name the status as a
-- literal, which is what lets SQLite pick a partial index.
CREATE INDEX IF NOT EXISTS tasks_waiting ON tasks (pool, priority DESC, seq) WHERE status = 'waiting';
CREATE INDEX IF NOT EXISTS tasks_part_done ON tasks (pool, priority DESC, seq) WHERE status = 'part_done';
CREATE INDEX IF NOT EXISTS tasks_running ON tasks (pool, lease_until) WHERE status = 'running';
-- Pages of a pool in creation order (the console's keyset pages, a query
-- with a limit), whole or by status, without sorting the pool: the first
-- page of a million-task pool reads a page of entries. A page of waiting
-- or done tasks walks tasks_pool_seq and skips the others: an index per
-- status that every claim or every commit had to update cost 3 µs a task
-- each, a tenth of a no-op task. Failed and part_done tasks, which a task
-- reaches rarely or only in two-phase pools, have a partial index each
-- (the query names the status as a literal, see where); running tasks are
-- few, and their pages sort tasks_running. Versions 8 and 9 added them;
-- the schema statements create them in an older file.
CREATE INDEX IF NOT EXISTS tasks_pool_seq ON tasks (pool, seq);
CREATE INDEX IF NOT EXISTS tasks_part_done_seq ON tasks (pool, seq) WHERE status = 'part_done';
CREATE INDEX IF NOT EXISTS tasks_failed_seq ON tasks (pool, seq) WHERE status = 'failed';

CREATE TABLE IF NOT EXISTS pool_counts (
	pool   TEXT    NOT NULL,
	status TEXT    NOT NULL,
	n      INTEGER NOT NULL,
	PRIMARY KEY (pool, status)
) WITHOUT ROWID;

-- The kept output of each attempt of a task (a program's stdout and
-- stderr, the last bytes of it). A task's logs go with it: the trigger
-- fires only on deletes, which are rare admin operations.
CREATE TABLE IF NOT EXISTS task_logs (
	task_id    TEXT    NOT NULL,
	phase      INTEGER NOT NULL, -- 1: claimed from waiting, 2: from part_done
	attempt    INTEGER NOT NULL,
	pool       TEXT    NOT NULL,
	total      INTEGER NOT NULL,
	tail       BLOB    NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (task_id, phase, attempt)
);
` + logsTrigger + `
` + artifactSchema + `
` + opsSchema + `
`

// logsTrigger removes a task's logs with it.
const logsTrigger = `CREATE TRIGGER IF NOT EXISTS tasks_delete_logs AFTER DELETE ON tasks BEGIN
	DELETE FROM task_logs WHERE task_id = old.id;
END;`

// migrateLogPhase turns the task_logs of versions 4 and 5 into version 6's:
// the key gains the phase, and every kept log is phase one's (before
// version 6 attempts counted across phases). The trigger goes while the
// table is rebuilt: a rename checks the triggers that name it.
const migrateLogPhase = `
DROP TRIGGER IF EXISTS tasks_delete_logs;
CREATE TABLE task_logs_v6 (
	task_id    TEXT    NOT NULL,
	phase      INTEGER NOT NULL,
	attempt    INTEGER NOT NULL,
	pool       TEXT    NOT NULL,
	total      INTEGER NOT NULL,
	tail       BLOB    NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (task_id, phase, attempt)
);
INSERT INTO task_logs_v6 SELECT task_id, 1, attempt, pool, total, tail, updated_at FROM task_logs;
DROP TABLE task_logs;
ALTER TABLE task_logs_v6 RENAME TO task_logs;
` + logsTrigger

// migratePages drops version 8's page index by status (version 9 has
// partial ones).
const migratePages = `DROP INDEX IF EXISTS tasks_pool_status_seq`

// migrateV1 turns a version 1 database into version 2: the counting
// triggers and the old indexes go, and the counts are rebuilt once.
const migrateV1 = `
DROP TRIGGER IF EXISTS tasks_count_insert;
DROP TRIGGER IF EXISTS tasks_count_delete;
DROP TRIGGER IF EXISTS tasks_count_update;
DROP INDEX IF EXISTS tasks_lease;
DROP INDEX IF EXISTS tasks_claim;
UPDATE pool_counts SET n = 0;
INSERT INTO pool_counts (pool, status, n)
	SELECT pool, status, count(*) FROM tasks WHERE true GROUP BY pool, status
	ON CONFLICT (pool, status) DO UPDATE SET n = excluded.n;
`

// sqlKeyTables hold the dedup index (version 11): each task's kh and seq.
// A hash is random, so an index of hashes that every create grows at
// random places dirties most of its pages per large create once it holds
// several hundred thousand tasks: a 1M create slowed from 78k to 48k tasks
// a second with version 10's index on tasks (kh). New tasks go into
// task_keys_recent, which stays small; a create that finds it holding
// mergeAt keys or more moves them into task_keys in one sorted run (see
// Store.CreateTasks), which dirties each page of task_keys once. A look-up
// searches both. The keys are not UNIQUE (two keys may share a hash).
// The triggers keep the tables in step with tasks whoever writes it; a
// row written without kh (a version 1 build) gets its entry when a later
// open finds that build's objects (see migrate).
const sqlKeyTables = `CREATE TABLE IF NOT EXISTS task_keys (
	kh  INTEGER NOT NULL,
	seq INTEGER NOT NULL,
	PRIMARY KEY (kh, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS task_keys_recent (
	kh  INTEGER NOT NULL,
	seq INTEGER NOT NULL,
	PRIMARY KEY (kh, seq)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS tasks_insert_key AFTER INSERT ON tasks WHEN new.kh IS NOT NULL BEGIN
	INSERT INTO task_keys_recent (kh, seq) VALUES (new.kh, new.seq);
END;
CREATE TRIGGER IF NOT EXISTS tasks_delete_key AFTER DELETE ON tasks BEGIN
	DELETE FROM task_keys WHERE kh = old.kh AND seq = old.seq;
	DELETE FROM task_keys_recent WHERE kh = old.kh AND seq = old.seq;
END;`

// migrateKeyTables fills the dedup tables from tasks: the migration to
// version 11 (which drops version 10's index) and the repair after a
// version 1 build. One sorted run into task_keys.
const migrateKeyTables = `DROP INDEX IF EXISTS tasks_kh;
DELETE FROM task_keys;
DELETE FROM task_keys_recent;
INSERT INTO task_keys (kh, seq) SELECT kh, seq FROM tasks WHERE kh IS NOT NULL ORDER BY kh, seq`

// migrateDedupIndex drops the unique (pool, key) index of versions 1 to 9,
// once every task has its kh.
const migrateDedupIndex = `DROP INDEX IF EXISTS tasks_pool_key`

// migrateKeys turns hex keys (versions 1 and 2, or rows an older build
// wrote since) into their bytes.
const migrateKeys = `UPDATE tasks SET key = unhex(key) WHERE typeof(key) = 'text' AND length(key) = 64 AND key = lower(key) AND unhex(key) IS NOT NULL`

// keyCol reads a key back as the hex string the Manager computed. A key
// that was not a SHA-256 in hex is stored as it came, as text.
const keyCol = `CASE WHEN typeof(key) = 'blob' THEN lower(hex(key)) ELSE key END`

// sqlV1Objects tells whether any object of schema version 1 is in the file
// (tasks_pool_key is also that of versions 2 to 9; a version 1 build, which
// does not read the version, creates it again).
const sqlV1Objects = `SELECT count(*) > 0 FROM sqlite_schema WHERE name IN
	('tasks_count_insert', 'tasks_count_delete', 'tasks_count_update', 'tasks_lease', 'tasks_claim', 'tasks_pool_key')`

// taskCols is the column list every task read selects, without payloads;
// scanTask reads it in this order.
const taskCols = `id, kind, ` + keyCol + `, status, priority, seq, filter, attempts, max_attempts,
	last_error, lease_owner, lease_token, lease_until, claimed_from, run_after,
	created_at, updated_at, started_at, finished_at`
