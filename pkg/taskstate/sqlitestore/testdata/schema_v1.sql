CREATE TABLE IF NOT EXISTS tasks (
	seq          INTEGER PRIMARY KEY,
	id           TEXT    NOT NULL UNIQUE,
	pool         TEXT    NOT NULL,
	key          TEXT    NOT NULL,
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
CREATE UNIQUE INDEX IF NOT EXISTS tasks_pool_key ON tasks (pool, key);
CREATE INDEX IF NOT EXISTS tasks_claim ON tasks (pool, status, priority DESC, seq);
CREATE INDEX IF NOT EXISTS tasks_lease ON tasks (pool, lease_until) WHERE status = 'running';

CREATE TABLE IF NOT EXISTS pool_counts (
	pool   TEXT    NOT NULL,
	status TEXT    NOT NULL,
	n      INTEGER NOT NULL,
	PRIMARY KEY (pool, status)
) WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS tasks_count_insert AFTER INSERT ON tasks BEGIN
	INSERT OR IGNORE INTO pool_counts (pool, status, n) VALUES (new.pool, new.status, 0);
	UPDATE pool_counts SET n = n + 1 WHERE pool = new.pool AND status = new.status;
END;
CREATE TRIGGER IF NOT EXISTS tasks_count_delete AFTER DELETE ON tasks BEGIN
	UPDATE pool_counts SET n = n - 1 WHERE pool = old.pool AND status = old.status;
END;
CREATE TRIGGER IF NOT EXISTS tasks_count_update AFTER UPDATE OF status ON tasks
WHEN old.status <> new.status BEGIN
	UPDATE pool_counts SET n = n - 1 WHERE pool = old.pool AND status = old.status;
	INSERT OR IGNORE INTO pool_counts (pool, status, n) VALUES (new.pool, new.status, 0);
	UPDATE pool_counts SET n = n + 1 WHERE pool = new.pool AND status = new.status;
END;
