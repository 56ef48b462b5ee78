package sqlitestore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

var _ taskstate.ArtifactStore = (*Store)(nil)

// ChunkSize is the size of every stored piece of an artifact but its last.
const ChunkSize = 1 << 20

// artifactSchema is the part of the schema that keeps artifacts (version
// 5). An artifact row is in one of three states:
//
//   - writing: its chunks are being inserted, one short transaction per
//     chunk, each checking that the task is still running under the row's
//     token (so a lost lease stops the upload at its next chunk);
//   - staged: complete (sha256 set) but invisible, waiting for its
//     attempt's PromoteArtifacts;
//   - committed: the task's artifact, what ListArtifacts and OpenArtifact
//     see. At most one per (task, name).
//
// A row's chunks go with it (trigger artifacts_delete_chunks), a task's
// artifacts go with the task (tasks_delete_artifacts), and a task moved to
// waiting (a reset, or a retry, reap or release of an attempt claimed from
// waiting) loses its artifacts (tasks_reset_artifacts): it starts over.
// That trigger is evaluated for every status change, and does work only
// on a move to waiting.
const artifactSchema = `
CREATE TABLE IF NOT EXISTS artifacts (
	id         INTEGER PRIMARY KEY,
	pool       TEXT    NOT NULL,
	task_id    TEXT    NOT NULL,
	token      TEXT    NOT NULL, -- the lease token of the attempt that wrote it
	name       TEXT    NOT NULL,
	state      TEXT    NOT NULL, -- writing, staged or committed
	size       INTEGER NOT NULL,
	sha256     TEXT,             -- set once written
	attempt    INTEGER NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS artifacts_task ON artifacts (task_id, token);
CREATE UNIQUE INDEX IF NOT EXISTS artifacts_committed ON artifacts (task_id, name) WHERE state = 'committed';
CREATE INDEX IF NOT EXISTS artifacts_uncommitted ON artifacts (pool) WHERE state <> 'committed';
CREATE TABLE IF NOT EXISTS artifact_chunks (
	artifact_id INTEGER NOT NULL,
	n           INTEGER NOT NULL,
	data        BLOB    NOT NULL,
	PRIMARY KEY (artifact_id, n)
);
CREATE TRIGGER IF NOT EXISTS artifacts_delete_chunks AFTER DELETE ON artifacts BEGIN
	DELETE FROM artifact_chunks WHERE artifact_id = old.id;
END;
CREATE TRIGGER IF NOT EXISTS tasks_delete_artifacts AFTER DELETE ON tasks BEGIN
	DELETE FROM artifacts WHERE task_id = old.id;
END;
CREATE TRIGGER IF NOT EXISTS tasks_reset_artifacts AFTER UPDATE OF status ON tasks WHEN new.status = 'waiting' BEGIN
	DELETE FROM artifacts WHERE task_id = new.id;
END;
`

// leaseHeld is true while the artifact row a is writing (or staged) and
// its task is running under the row's token.
const leaseHeld = `EXISTS (SELECT 1 FROM tasks t WHERE t.id = a.task_id AND t.pool = a.pool AND t.status = 'running' AND t.lease_token = a.token)`

const (
	sqlArtBegin = `INSERT INTO artifacts (pool, task_id, token, name, state, size, attempt, created_at)
	SELECT pool, id, lease_token, ?, 'writing', 0, attempts, ? FROM tasks
	WHERE id = ? AND pool = ? AND status = 'running' AND lease_token = ? RETURNING id, attempt`
	// sqlArtOthers sums what the attempt has staged (or is writing) besides
	// artifact ? and the staged one it will replace.
	sqlArtOthers = `SELECT coalesce(sum(size), 0) FROM artifacts
	WHERE task_id = ? AND token = ? AND state <> 'committed' AND id <> ? AND NOT (state = 'staged' AND name = ?)`
	sqlArtChunk = `INSERT INTO artifact_chunks (artifact_id, n, data) SELECT ?, ?, ?
	WHERE EXISTS (SELECT 1 FROM artifacts a WHERE a.id = ? AND a.state = 'writing' AND ` + leaseHeld + `)`
	sqlArtSize     = `UPDATE artifacts SET size = ? WHERE id = ?`
	sqlArtReplace  = `DELETE FROM artifacts WHERE task_id = ? AND token = ? AND name = ? AND state = 'staged'`
	sqlArtFinish   = `UPDATE artifacts AS a SET state = 'staged', sha256 = ? WHERE a.id = ? AND a.state = 'writing' AND ` + leaseHeld
	sqlArtDeleteID = `DELETE FROM artifacts WHERE id = ?`
	sqlArtFence    = `SELECT count(*) FROM tasks WHERE id = ? AND pool = ? AND status = 'running' AND lease_token = ?`
	// sqlArtDropOld removes what a promote replaces: every artifact of the
	// task but the staged ones of the promoted token.
	sqlArtDropOld = `DELETE FROM artifacts WHERE task_id = ? AND pool = ? AND NOT (token = ? AND state = 'staged')`
	sqlArtPromote = `UPDATE artifacts SET state = 'committed' WHERE task_id = ? AND pool = ? AND token = ? AND state = 'staged'`
	sqlArtDiscard = `DELETE FROM artifacts WHERE task_id = ? AND pool = ? AND token = ? AND state <> 'committed'`
	sqlArtList    = `SELECT name, size, sha256, attempt, created_at FROM artifacts
	WHERE task_id = ? AND pool = ? AND state = 'committed' ORDER BY name`
	sqlArtOpen = `SELECT id, name, size, sha256, attempt, created_at FROM artifacts
	WHERE task_id = ? AND pool = ? AND name = ? AND state = 'committed'`
	sqlArtRead = `SELECT data FROM artifact_chunks WHERE artifact_id = ? AND n = ?`
	// sqlArtStale lists the uncommitted artifacts of a pool whose attempt
	// no longer holds its task's lease.
	sqlArtStale = `SELECT a.id FROM artifacts a WHERE a.pool = ? AND a.state <> 'committed' AND NOT ` + leaseHeld
	// sqlArtDeleteStale removes one of them, checked again.
	sqlArtDeleteStale = `DELETE FROM artifacts AS a WHERE a.id = ? AND a.state <> 'committed' AND NOT ` + leaseHeld
	// sqlArtOrphans removes chunks whose artifact is gone and artifacts
	// whose task is gone (the triggers leave none; this is a safety net).
	sqlArtOrphanChunks = `DELETE FROM artifact_chunks WHERE artifact_id NOT IN (SELECT id FROM artifacts)`
	sqlArtOrphans      = `DELETE FROM artifacts WHERE pool = ? AND task_id NOT IN (SELECT id FROM tasks)`
)

// artErr wraps err for the artifact operation op.
func artErr(op string, err error) error {
	return fmt.Errorf("sqlitestore: %s: %w", op, err)
}

// StageArtifact streams p.Body into a staged artifact, one ChunkSize piece
// per short write transaction: the writer is held only while a chunk is
// inserted, so claims and commits of other workers go in between. Each
// chunk is inserted only if the task still runs under p.Token; when it no
// longer does, or a limit is passed, or the body fails, the artifact's row
// and chunks are deleted before the error is returned.
func (s *Store) StageArtifact(ctx context.Context, p taskstate.StageArtifactParams) (taskstate.Artifact, error) {
	const op = "stage artifact"
	if err := taskstate.ValidateArtifactName(p.Name); err != nil {
		return taskstate.Artifact{}, err
	}
	lim := p.Limits.Resolved()
	now := p.Now
	if now.IsZero() {
		now = time.Now()
	}
	for _, q := range []string{sqlArtOthers, sqlArtChunk, sqlArtSize, sqlArtReplace, sqlArtFinish} {
		if _, err := s.wstmt(ctx, q); err != nil {
			return taskstate.Artifact{}, artErr(op, err)
		}
	}
	st, err := s.wstmt(ctx, sqlArtBegin)
	if err != nil {
		return taskstate.Artifact{}, artErr(op, err)
	}
	a := taskstate.Artifact{TaskID: p.ID, Name: p.Name, CreatedAt: time.Unix(0, now.UnixNano()).UTC()}
	var artID int64
	err = st.QueryRowContext(ctx, p.Name, now.UnixNano(), p.ID, p.Pool, p.Token).Scan(&artID, &a.Attempt)
	if errors.Is(err, sql.ErrNoRows) {
		return taskstate.Artifact{}, fmt.Errorf("sqlitestore: %s %q: task %s: %w", op, p.Name, p.ID, taskstate.ErrLeaseLost)
	}
	if err != nil {
		return taskstate.Artifact{}, artErr(op, err)
	}
	ok := false
	defer func() {
		if !ok {
			s.dropArtifact(context.WithoutCancel(ctx), artID)
		}
	}()
	h := sha256.New()
	buf := make([]byte, ChunkSize)
	for n := 0; ; n++ {
		k, rerr := io.ReadFull(p.Body, buf)
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			return taskstate.Artifact{}, fmt.Errorf("sqlitestore: %s %q: read: %w", op, p.Name, rerr)
		}
		if k > 0 {
			a.Size += int64(k)
			if a.Size > lim.MaxSize {
				return taskstate.Artifact{}, fmt.Errorf("sqlitestore: %s %q: %w: over %d bytes", op, p.Name, taskstate.ErrArtifactTooLarge, lim.MaxSize)
			}
			h.Write(buf[:k])
			if err := s.putChunk(ctx, p, artID, n, buf[:k], a.Size, lim); err != nil {
				return taskstate.Artifact{}, err
			}
		}
		if rerr != nil { // EOF
			break
		}
	}
	a.SHA256 = hex.EncodeToString(h.Sum(nil))
	if err := s.finishArtifact(ctx, p, artID, a.SHA256); err != nil {
		return taskstate.Artifact{}, err
	}
	ok = true
	return a, nil
}

// putChunk inserts chunk n of artifact artID, whose size is then size, in
// one transaction that checks the lease and the attempt's total.
func (s *Store) putChunk(ctx context.Context, p taskstate.StageArtifactParams, artID int64, n int, data []byte, size int64, lim taskstate.ArtifactLimits) error {
	const op = "stage artifact"
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return artErr(op, err)
	}
	defer tx.Rollback()
	others, err := s.txStmt(ctx, tx, sqlArtOthers)
	if err != nil {
		return artErr(op, err)
	}
	var total int64
	if err := others.QueryRowContext(ctx, p.ID, p.Token, artID, p.Name).Scan(&total); err != nil {
		return artErr(op, err)
	}
	if total+size > lim.MaxTotal {
		return fmt.Errorf("sqlitestore: %s %q: %w: the attempt's artifacts are over %d bytes together", op, p.Name, taskstate.ErrArtifactTooLarge, lim.MaxTotal)
	}
	ins, err := s.txStmt(ctx, tx, sqlArtChunk)
	if err != nil {
		return artErr(op, err)
	}
	res, err := ins.ExecContext(ctx, artID, n, data, artID)
	if err != nil {
		return artErr(op, err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return fmt.Errorf("sqlitestore: %s %q: task %s: %w", op, p.Name, p.ID, taskstate.ErrLeaseLost)
	}
	upd, err := s.txStmt(ctx, tx, sqlArtSize)
	if err != nil {
		return artErr(op, err)
	}
	if _, err := upd.ExecContext(ctx, size, artID); err != nil {
		return artErr(op, err)
	}
	if err := tx.Commit(); err != nil {
		return artErr(op, err)
	}
	return nil
}

// finishArtifact makes a written artifact staged, replacing a staged one
// of the same name and token, if the lease is still held.
func (s *Store) finishArtifact(ctx context.Context, p taskstate.StageArtifactParams, artID int64, sum string) error {
	const op = "stage artifact"
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return artErr(op, err)
	}
	defer tx.Rollback()
	rep, err := s.txStmt(ctx, tx, sqlArtReplace)
	if err != nil {
		return artErr(op, err)
	}
	if _, err := rep.ExecContext(ctx, p.ID, p.Token, p.Name); err != nil {
		return artErr(op, err)
	}
	fin, err := s.txStmt(ctx, tx, sqlArtFinish)
	if err != nil {
		return artErr(op, err)
	}
	res, err := fin.ExecContext(ctx, sum, artID)
	if err != nil {
		return artErr(op, err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return fmt.Errorf("sqlitestore: %s %q: task %s: %w", op, p.Name, p.ID, taskstate.ErrLeaseLost)
	}
	if err := tx.Commit(); err != nil {
		return artErr(op, err)
	}
	return nil
}

// dropArtifact deletes an artifact row and its chunks, best effort (the
// caller is already failing; CleanupStaged removes what is left).
func (s *Store) dropArtifact(ctx context.Context, artID int64) {
	if st, err := s.wstmt(ctx, sqlArtDeleteID); err == nil {
		_, _ = st.ExecContext(ctx, artID)
	}
}

// PromoteArtifacts implements taskstate.ArtifactStore. One transaction
// checks the lease and, if it is held, deletes the task's committed
// artifacts (and any other attempt's leftovers) and commits the staged
// ones of the token; if it is not, deletes the token's staged artifacts.
// Readers see the old set or the new one, never a mix.
func (s *Store) PromoteArtifacts(ctx context.Context, p taskstate.ArtifactLeaseParams) error {
	const op = "promote artifacts"
	for _, q := range []string{sqlArtFence, sqlArtDropOld, sqlArtPromote, sqlArtDiscard} {
		if _, err := s.wstmt(ctx, q); err != nil {
			return artErr(op, err)
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return artErr(op, err)
	}
	defer tx.Rollback()
	fence, err := s.txStmt(ctx, tx, sqlArtFence)
	if err != nil {
		return artErr(op, err)
	}
	var held int
	if err := fence.QueryRowContext(ctx, p.ID, p.Pool, p.Token).Scan(&held); err != nil {
		return artErr(op, err)
	}
	if held == 0 {
		del, err := s.txStmt(ctx, tx, sqlArtDiscard)
		if err != nil {
			return artErr(op, err)
		}
		if _, err := del.ExecContext(ctx, p.ID, p.Pool, p.Token); err != nil {
			return artErr(op, err)
		}
		if err := tx.Commit(); err != nil {
			return artErr(op, err)
		}
		return fmt.Errorf("sqlitestore: %s of task %s: %w (its staged artifacts were discarded)", op, p.ID, taskstate.ErrLeaseLost)
	}
	for _, q := range []string{sqlArtDropOld, sqlArtPromote} {
		st, err := s.txStmt(ctx, tx, q)
		if err != nil {
			return artErr(op, err)
		}
		if _, err := st.ExecContext(ctx, p.ID, p.Pool, p.Token); err != nil {
			return artErr(op, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return artErr(op, err)
	}
	return nil
}

// DiscardStaged implements taskstate.ArtifactStore.
func (s *Store) DiscardStaged(ctx context.Context, p taskstate.ArtifactLeaseParams) error {
	st, err := s.wstmt(ctx, sqlArtDiscard)
	if err != nil {
		return artErr("discard staged artifacts", err)
	}
	if _, err := st.ExecContext(ctx, p.ID, p.Pool, p.Token); err != nil {
		return artErr("discard staged artifacts", err)
	}
	return nil
}

// CleanupStaged implements taskstate.ArtifactStore: it lists the stale
// artifacts from a reader, then deletes them one transaction each (the
// condition checked again), so the writer is never held for long.
func (s *Store) CleanupStaged(ctx context.Context, p taskstate.CleanupStagedParams) (int64, error) {
	const op = "clean up staged artifacts"
	rows, err := s.r.QueryContext(ctx, sqlArtStale, p.Pool)
	if err != nil {
		return 0, artErr(op, err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, artErr(op, err)
		}
		ids = append(ids, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, artErr(op, err)
	}
	st, err := s.wstmt(ctx, sqlArtDeleteStale)
	if err != nil {
		return 0, artErr(op, err)
	}
	var n int64
	for _, id := range ids {
		res, err := st.ExecContext(ctx, id)
		if err != nil {
			return n, artErr(op, err)
		}
		k, _ := res.RowsAffected()
		n += k
	}
	if _, err := s.w.ExecContext(ctx, sqlArtOrphans, p.Pool); err != nil {
		return n, artErr(op, err)
	}
	if _, err := s.w.ExecContext(ctx, sqlArtOrphanChunks); err != nil {
		return n, artErr(op, err)
	}
	return n, nil
}

// ListArtifacts implements taskstate.ArtifactStore.
func (s *Store) ListArtifacts(ctx context.Context, p taskstate.ListArtifactsParams) ([]taskstate.Artifact, error) {
	st, err := s.rstmt(ctx, sqlArtList)
	if err != nil {
		return nil, artErr("list artifacts", err)
	}
	rows, err := st.QueryContext(ctx, p.ID, p.Pool)
	if err != nil {
		return nil, artErr("list artifacts", err)
	}
	defer rows.Close()
	var out []taskstate.Artifact
	for rows.Next() {
		a := taskstate.Artifact{TaskID: p.ID}
		var (
			sum     sql.NullString
			created int64
		)
		if err := rows.Scan(&a.Name, &a.Size, &sum, &a.Attempt, &created); err != nil {
			return nil, artErr("list artifacts", err)
		}
		a.SHA256, a.CreatedAt = sum.String, time.Unix(0, created).UTC()
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, artErr("list artifacts", err)
	}
	return out, nil
}

// OpenArtifact implements taskstate.ArtifactStore. The reader fetches one
// chunk per read query, through the reader pool, so it holds no
// transaction open between reads (the WAL can be checkpointed meanwhile).
func (s *Store) OpenArtifact(ctx context.Context, p taskstate.OpenArtifactParams) (io.ReadCloser, taskstate.Artifact, error) {
	st, err := s.rstmt(ctx, sqlArtOpen)
	if err != nil {
		return nil, taskstate.Artifact{}, artErr("open artifact", err)
	}
	a := taskstate.Artifact{TaskID: p.ID}
	var (
		artID   int64
		sum     sql.NullString
		created int64
	)
	err = st.QueryRowContext(ctx, p.ID, p.Pool, p.Name).Scan(&artID, &a.Name, &a.Size, &sum, &a.Attempt, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, taskstate.Artifact{}, fmt.Errorf("%w: %q of task %s in pool %s", taskstate.ErrArtifactNotFound, p.Name, p.ID, p.Pool)
	}
	if err != nil {
		return nil, taskstate.Artifact{}, artErr("open artifact", err)
	}
	a.SHA256, a.CreatedAt = sum.String, time.Unix(0, created).UTC()
	return &chunkReader{s: s, ctx: ctx, id: artID, a: a, left: a.Size}, a, nil
}

// chunkReader reads an artifact chunk by chunk.
type chunkReader struct {
	s    *Store
	ctx  context.Context
	id   int64
	a    taskstate.Artifact
	n    int    // next chunk
	buf  []byte // unread part of the current chunk
	left int64  // bytes not yet fetched
	err  error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.left == 0 {
			r.err = io.EOF
			return 0, io.EOF
		}
		r.err = r.fetch()
	}
	k := copy(p, r.buf)
	r.buf = r.buf[k:]
	return k, nil
}

func (r *chunkReader) fetch() error {
	st, err := r.s.rstmt(r.ctx, sqlArtRead)
	if err != nil {
		return artErr("read artifact", err)
	}
	var data []byte
	err = st.QueryRowContext(r.ctx, r.id, r.n).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) || err == nil && (len(data) == 0 || int64(len(data)) > r.left) {
		return fmt.Errorf("sqlitestore: read artifact %q of task %s: chunk %d is missing (removed while being read?)", r.a.Name, r.a.TaskID, r.n)
	}
	if err != nil {
		return artErr("read artifact", err)
	}
	r.n++
	r.left -= int64(len(data))
	r.buf = data
	return nil
}

func (r *chunkReader) Close() error {
	r.buf, r.err = nil, errors.New("sqlitestore: read artifact: reader closed")
	return nil
}

// DeleteArtifacts implements taskstate.ArtifactStore.
func (s *Store) DeleteArtifacts(ctx context.Context, p taskstate.DeleteArtifactsParams) error {
	const batch = 500
	for off := 0; off < len(p.IDs); off += batch {
		ids := p.IDs[off:min(off+batch, len(p.IDs))]
		args := make([]any, 0, len(ids)+1)
		args = append(args, p.Pool)
		for _, id := range ids {
			args = append(args, id)
		}
		q := "DELETE FROM artifacts WHERE pool = ? AND task_id IN (" + placeholders(len(ids)) + ")"
		if _, err := s.w.ExecContext(ctx, q, args...); err != nil {
			return artErr("delete artifacts", err)
		}
	}
	return nil
}
