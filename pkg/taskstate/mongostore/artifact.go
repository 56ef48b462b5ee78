package mongostore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

var _ taskstate.ArtifactStore = (*Store)(nil)

// Artifacts live in one GridFS bucket per pool, "POOL.artifacts" (the
// collections POOL.artifacts.files and POOL.artifacts.chunks; pool names
// hold no dots, and ListPools leaves dotted names out). They are
// named through the driver's GridFSBucket, and read and written in the
// GridFS format by chunkReader and chunkWriter, in batches of 4 MiB (reads)
// and 1 MiB (writes) rather than the driver's streams' 16 MiB ones.
//
// A GridFS file is one artifact of one attempt. Its _id is the string
// "TASK/TOKEN/NONCE" (task id, lease token, a fresh ObjectID in hex), so
// that even chunks whose file document was never written (a worker that
// died mid-upload) name their task and attempt, and CleanupStaged can tell
// whether they are garbage. Its filename is the artifact's name and its
// metadata document is
//
//	{task, token, name, attempt, created_at, state, sha256}
//
// where state is "uploaded" from the moment the file document is written
// (after the last chunk) until sha256 is set, then "staged".
//
// Which attempt's artifacts are committed is recorded in the task
// document: its field artifacts_token holds the lease token of the
// attempt whose staged files are the task's artifacts. PromoteArtifacts
// sets it with one updateOne whose filter is the lease fence (running
// under that token), so the fence check and the switch of visibility are
// one atomic single-document write: readers see the previous attempt's
// set or the new one, never a mix. The files of the replaced attempt are
// deleted after the switch; until then they are invisible (their token is
// not artifacts_token), and if the deletion is interrupted CleanupStaged
// removes them. What is not atomic: the removal of a file (its file
// document, then its chunks, as GridFS does it), and a list or a read
// that runs while a promote replaces the set may see the old set with
// files missing from it, or fail a read with a missing chunk (never a
// short or mixed file).
const (
	artifactsSuffix = ".artifacts"
	// fArtifactsToken is the task document's pointer to its committed
	// artifacts.
	fArtifactsToken = "artifacts_token"
	// ChunkSize is the GridFS chunk size of artifacts: 128 KiB, so that
	// the download stream's first batch (101 chunks, the server default)
	// stays under 16 MiB even on servers that do not cap it (FerretDB).
	ChunkSize = 128 << 10
	// fenceEvery is how often (in bytes) an upload checks that its lease
	// is still held: once per flush of the driver's 16 MiB buffer.
	fenceEvery = 16 << 20

	stateUploaded = "uploaded"
	stateStaged   = "staged"
)

// artifactMeta is the metadata document of an artifact's GridFS file.
type artifactMeta struct {
	Task      string    `bson:"task"`
	Token     string    `bson:"token"`
	Name      string    `bson:"name"`
	Attempt   int       `bson:"attempt"`
	CreatedAt time.Time `bson:"created_at"`
	State     string    `bson:"state"`
	SHA256    string    `bson:"sha256,omitempty"`
}

// artifactFile is a files collection document as read back.
type artifactFile struct {
	ID        string       `bson:"_id"`
	Length    int64        `bson:"length"`
	ChunkSize int32        `bson:"chunkSize"`
	Metadata  artifactMeta `bson:"metadata"`
}

func (f artifactFile) artifact() taskstate.Artifact {
	m := f.Metadata
	return taskstate.Artifact{TaskID: m.Task, Name: m.Name, Size: f.Length, SHA256: m.SHA256, Attempt: m.Attempt, CreatedAt: m.CreatedAt.UTC()}
}

// artifactColls returns the pool's task collection and artifact bucket.
func (s *Store) artifactColls(pool string) (*mongo.Collection, *mongo.GridFSBucket, error) {
	c, err := s.coll(pool)
	if err != nil {
		return nil, nil, err
	}
	b, err := s.bucket(pool)
	return c, b, err
}

// bucket returns the pool's artifact bucket.
func (s *Store) bucket(pool string) (*mongo.GridFSBucket, error) {
	if err := taskstate.ValidatePool(pool); err != nil {
		return nil, err
	}
	return s.db.GridFSBucket(options.GridFSBucket().SetName(pool + artifactsSuffix).SetChunkSizeBytes(ChunkSize)), nil
}

// indexBucket creates, once per pool and process, the index of the
// bucket's files collection by (metadata.task, metadata.token), which
// every lookup of a task's files uses, and the two indexes of the GridFS
// spec (files by filename and uploadDate; chunks by files_id and n,
// unique). Writers call it.
func (s *Store) indexBucket(ctx context.Context, pool string, b *mongo.GridFSBucket) error {
	key := pool + artifactsSuffix // never a pool name: those have no dots
	if _, ok := s.indexed.Load(key); ok {
		return nil
	}
	_, err := b.GetFilesCollection().Indexes().CreateMany(ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "metadata.task", Value: 1}, {Key: "metadata.token", Value: 1}}},
		{Keys: bson.D{{Key: "filename", Value: 1}, {Key: "uploadDate", Value: 1}}}, // GridFS's own
	})
	if err == nil {
		_, err = b.GetChunksCollection().Indexes().CreateOne(ctx, mongo.IndexModel{
			Keys: bson.D{{Key: "files_id", Value: 1}, {Key: "n", Value: 1}}, Options: options.Index().SetUnique(true),
		})
	}
	if err != nil {
		return s.wrap("create artifact index", pool, err)
	}
	s.indexed.Store(key, struct{}{})
	return nil
}

// fileID is the GridFS file id of a new artifact of (task, token).
func fileID(task, token string) string {
	return task + "/" + token + "/" + bson.NewObjectID().Hex()
}

// parseFileID splits a file id made by fileID.
func parseFileID(v any) (task, token string, ok bool) {
	s, isStr := v.(string)
	if !isStr {
		return "", "", false
	}
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// leaseHeld reports whether the task is running under token.
func (s *Store) leaseHeld(ctx context.Context, c *mongo.Collection, id, token string) (attempt int, held bool, err error) {
	oid, ok := taskID(id)
	if !ok || token == "" {
		return 0, false, nil
	}
	var d struct {
		Attempts int `bson:"attempts"`
	}
	err = c.FindOne(ctx, leaseFence(oid, token), options.FindOne().SetProjection(bson.D{{Key: fAttempts, Value: 1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return d.Attempts, true, nil
}

// StageArtifact implements taskstate.ArtifactStore. The body is read one
// 128 KiB chunk at a time and inserted 8 chunks (1 MiB) per insertMany. Every 16 MiB
// and once more at the end the lease is checked; on a lost lease, a limit,
// a failed read or a cancelled ctx, what was written (chunks, file
// document) is deleted. The per-attempt total counts the
// attempt's files already staged; uploads of one attempt running at the
// same time do not see each other's bytes.
func (s *Store) StageArtifact(ctx context.Context, p taskstate.StageArtifactParams) (a taskstate.Artifact, err error) {
	const op = "stage artifact"
	if err := taskstate.ValidateArtifactName(p.Name); err != nil {
		return a, err
	}
	c, b, err := s.artifactColls(p.Pool)
	if err != nil {
		return a, err
	}
	if err := s.indexBucket(ctx, p.Pool, b); err != nil {
		return a, err
	}
	lim := p.Limits.Resolved()
	attempt, held, err := s.leaseHeld(ctx, c, p.ID, p.Token)
	if err != nil {
		return a, s.wrap(op, p.Pool, err)
	}
	if !held {
		return a, fmt.Errorf("mongostore: %s %q: task %s: %w", op, p.Name, p.ID, taskstate.ErrLeaseLost)
	}
	others, err := s.stagedSize(ctx, b, p)
	if err != nil {
		return a, s.wrap(op, p.Pool, err)
	}
	now := p.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC().Truncate(time.Millisecond) // BSON dates hold milliseconds
	a = taskstate.Artifact{TaskID: p.ID, Name: p.Name, Attempt: attempt, CreatedAt: now}
	meta := artifactMeta{Task: p.ID, Token: p.Token, Name: p.Name, Attempt: attempt, CreatedAt: now, State: stateUploaded}
	id := fileID(p.ID, p.Token)
	// Cleanup runs after ctx is cancelled too.
	bg := context.WithoutCancel(ctx)
	defer func() {
		if err == nil {
			return
		}
		_ = deleteFileIDs(bg, b, []any{id})
	}()
	h := sha256.New()
	w := chunkWriter{ctx: ctx, chunks: b.GetChunksCollection(), id: id}
	buf := make([]byte, ChunkSize)
	var sinceFence int64
	for {
		if err := ctx.Err(); err != nil {
			return a, err
		}
		k, rerr := io.ReadFull(p.Body, buf)
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			return a, fmt.Errorf("mongostore: %s %q: read: %w", op, p.Name, rerr)
		}
		if k > 0 {
			a.Size += int64(k)
			if a.Size > lim.MaxSize {
				return a, fmt.Errorf("mongostore: %s %q: %w: over %d bytes", op, p.Name, taskstate.ErrArtifactTooLarge, lim.MaxSize)
			}
			if others+a.Size > lim.MaxTotal {
				return a, fmt.Errorf("mongostore: %s %q: %w: the attempt's artifacts are over %d bytes together", op, p.Name, taskstate.ErrArtifactTooLarge, lim.MaxTotal)
			}
			h.Write(buf[:k])
			if err := w.write(buf[:k]); err != nil {
				return a, s.wrap(op, p.Pool, err)
			}
			if sinceFence += int64(k); sinceFence >= fenceEvery {
				sinceFence = 0
				if _, held, err := s.leaseHeld(ctx, c, p.ID, p.Token); err != nil || !held {
					return a, s.lostOr(op, p, err)
				}
			}
		}
		if rerr != nil { // EOF
			break
		}
	}
	if err := w.flush(); err != nil {
		return a, s.wrap(op, p.Pool, err)
	}
	if _, err := b.GetFilesCollection().InsertOne(ctx, bson.D{
		{Key: fID, Value: id}, {Key: "length", Value: a.Size}, {Key: "chunkSize", Value: int32(ChunkSize)},
		{Key: "uploadDate", Value: bson.NewDateTimeFromTime(time.Now())}, {Key: "filename", Value: p.Name},
		{Key: "metadata", Value: meta},
	}); err != nil {
		return a, s.wrap(op, p.Pool, err)
	}
	a.SHA256 = hex.EncodeToString(h.Sum(nil))
	if _, err := b.GetFilesCollection().UpdateOne(ctx, bson.D{{Key: fID, Value: id}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "metadata.sha256", Value: a.SHA256}, {Key: "metadata.state", Value: stateStaged},
	}}}); err != nil {
		return a, s.wrap(op, p.Pool, err)
	}
	// The same name staged before by this attempt is replaced.
	if err := s.deleteFiles(ctx, b, bson.D{
		{Key: "metadata.task", Value: p.ID}, {Key: "metadata.token", Value: p.Token},
		{Key: "filename", Value: p.Name}, {Key: fID, Value: bson.D{{Key: "$ne", Value: id}}},
	}); err != nil {
		return a, s.wrap(op, p.Pool, err)
	}
	if _, held, err := s.leaseHeld(ctx, c, p.ID, p.Token); err != nil || !held {
		return a, s.lostOr(op, p, err)
	}
	return a, nil
}

// lostOr returns err wrapped, or ErrLeaseLost when err is nil.
func (s *Store) lostOr(op string, p taskstate.StageArtifactParams, err error) error {
	if err != nil {
		return s.wrap(op, p.Pool, err)
	}
	return fmt.Errorf("mongostore: %s %q: task %s: %w", op, p.Name, p.ID, taskstate.ErrLeaseLost)
}

// stagedSize sums the attempt's staged files other than p.Name.
func (s *Store) stagedSize(ctx context.Context, b *mongo.GridFSBucket, p taskstate.StageArtifactParams) (int64, error) {
	cur, err := b.GetFilesCollection().Find(ctx, bson.D{
		{Key: "metadata.task", Value: p.ID}, {Key: "metadata.token", Value: p.Token},
		{Key: "filename", Value: bson.D{{Key: "$ne", Value: p.Name}}},
	}, options.Find().SetProjection(bson.D{{Key: "length", Value: 1}}))
	if err != nil {
		return 0, err
	}
	var docs []struct {
		Length int64 `bson:"length"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return 0, err
	}
	var n int64
	for _, d := range docs {
		n += d.Length
	}
	return n, nil
}

// deleteFiles removes the files matching filter: their file documents,
// then their chunks (a reader never finds a file whose chunks are gone
// without failing; chunks left by an interruption are CleanupStaged's).
func (s *Store) deleteFiles(ctx context.Context, b *mongo.GridFSBucket, filter bson.D) error {
	ids, err := fileIDs(ctx, b.GetFilesCollection(), filter)
	if err != nil || len(ids) == 0 {
		return err
	}
	return deleteFileIDs(ctx, b, ids)
}

func fileIDs(ctx context.Context, files *mongo.Collection, filter bson.D) ([]any, error) {
	cur, err := files.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: fID, Value: 1}}))
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	var ids []any
	for cur.Next(ctx) {
		id, err := cur.Current.LookupErr(fID)
		if err != nil {
			return nil, err
		}
		var v any
		if err := id.Unmarshal(&v); err != nil {
			return nil, err
		}
		ids = append(ids, v)
	}
	return ids, cur.Err()
}

func deleteFileIDs(ctx context.Context, b *mongo.GridFSBucket, ids []any) error {
	const batch = 500
	for off := 0; off < len(ids); off += batch {
		in := bson.D{{Key: "$in", Value: ids[off:min(off+batch, len(ids))]}}
		if _, err := b.GetFilesCollection().DeleteMany(ctx, bson.D{{Key: fID, Value: in}}); err != nil {
			return err
		}
		if _, err := b.GetChunksCollection().DeleteMany(ctx, bson.D{{Key: "files_id", Value: in}}); err != nil {
			return err
		}
	}
	return nil
}

// PromoteArtifacts implements taskstate.ArtifactStore: one updateOne,
// fenced by the lease, points the task at the token's staged files
// (atomic); then the files of every other token of the task are deleted.
// Without the lease, the token's staged files are deleted and the error
// wraps ErrLeaseLost.
func (s *Store) PromoteArtifacts(ctx context.Context, p taskstate.ArtifactLeaseParams) error {
	const op = "promote artifacts"
	c, b, err := s.artifactColls(p.Pool)
	if err != nil {
		return err
	}
	matched := false
	if oid, err := bson.ObjectIDFromHex(p.ID); err == nil && p.Token != "" {
		res, err := c.UpdateOne(ctx, leaseFence(oid, p.Token), bson.D{{Key: "$set", Value: bson.D{{Key: fArtifactsToken, Value: p.Token}}}})
		if err != nil {
			return s.wrap(op, p.Pool, err)
		}
		matched = res.MatchedCount == 1
	}
	if !matched {
		if err := s.DiscardStaged(ctx, p); err != nil {
			return err
		}
		return fmt.Errorf("mongostore: %s of task %s: %w (its staged artifacts were discarded)", op, p.ID, taskstate.ErrLeaseLost)
	}
	if err := s.deleteFiles(ctx, b, bson.D{
		{Key: "metadata.task", Value: p.ID}, {Key: "metadata.token", Value: bson.D{{Key: "$ne", Value: p.Token}}},
	}); err != nil {
		return s.wrap(op+": remove the replaced artifacts", p.Pool, err)
	}
	return nil
}

// DiscardStaged implements taskstate.ArtifactStore. The files of a token
// that is the task's committed one are kept.
func (s *Store) DiscardStaged(ctx context.Context, p taskstate.ArtifactLeaseParams) error {
	const op = "discard staged artifacts"
	c, b, err := s.artifactColls(p.Pool)
	if err != nil {
		return err
	}
	committed, err := s.committedToken(ctx, c, p.ID)
	if err != nil {
		return s.wrap(op, p.Pool, err)
	}
	if committed == p.Token {
		return nil
	}
	if err := s.deleteFiles(ctx, b, bson.D{{Key: "metadata.task", Value: p.ID}, {Key: "metadata.token", Value: p.Token}}); err != nil {
		return s.wrap(op, p.Pool, err)
	}
	return nil
}

// committedToken returns the task's artifacts_token ("" for none or no
// such task).
func (s *Store) committedToken(ctx context.Context, c *mongo.Collection, id string) (string, error) {
	oid, ok := taskID(id)
	if !ok {
		return "", nil
	}
	var d struct {
		Token string `bson:"artifacts_token"`
	}
	err := c.FindOne(ctx, bson.D{{Key: fID, Value: oid}}, options.FindOne().SetProjection(bson.D{{Key: fArtifactsToken, Value: 1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", nil
	}
	return d.Token, err
}

// liveTokens returns, for a task, the tokens whose files must be kept:
// the committed one and the lease of a running task. exists is false for
// a task that is gone.
func (s *Store) liveTokens(ctx context.Context, c *mongo.Collection, id string) (committed, lease string, exists bool, err error) {
	oid, ok := taskID(id)
	if !ok {
		return "", "", false, nil
	}
	var d struct {
		Status string    `bson:"status"`
		Lease  *leaseDoc `bson:"lease"`
		Token  string    `bson:"artifacts_token"`
	}
	err = c.FindOne(ctx, bson.D{{Key: fID, Value: oid}}, options.FindOne().SetProjection(bson.D{
		{Key: fStatus, Value: 1}, {Key: fLeaseToken, Value: 1}, {Key: fArtifactsToken, Value: 1},
	})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, err
	}
	if d.Status == string(taskstate.StatusRunning) && d.Lease != nil {
		lease = d.Lease.Token
	}
	return d.Token, lease, true, nil
}

// CleanupStaged implements taskstate.ArtifactStore. It reads the pool's
// file documents and the distinct file ids of its chunks, and deletes the
// files (and bare chunks) whose token is neither the task's committed one
// nor the lease of the task running. A token stale once stays stale, so
// reading the task after the file is safe.
func (s *Store) CleanupStaged(ctx context.Context, p taskstate.CleanupStagedParams) (int64, error) {
	const op = "clean up staged artifacts"
	c, b, err := s.artifactColls(p.Pool)
	if err != nil {
		return 0, err
	}
	type live struct {
		committed, lease string
		exists           bool
	}
	tasks := map[string]live{}
	stale := func(task, token string) (bool, error) {
		l, ok := tasks[task]
		if !ok {
			var err error
			if l.committed, l.lease, l.exists, err = s.liveTokens(ctx, c, task); err != nil {
				return false, err
			}
			tasks[task] = l
		}
		return !l.exists || token != l.committed && token != l.lease, nil
	}
	cur, err := b.GetFilesCollection().Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: fID, Value: 1}, {Key: "metadata.task", Value: 1}, {Key: "metadata.token", Value: 1}}))
	if err != nil {
		return 0, s.wrap(op, p.Pool, err)
	}
	var files []artifactFile
	if err := cur.All(ctx, &files); err != nil {
		return 0, s.wrap(op, p.Pool, err)
	}
	known := make(map[string]bool, len(files))
	var drop []any
	for _, f := range files {
		known[f.ID] = true
		st, err := stale(f.Metadata.Task, f.Metadata.Token)
		if err != nil {
			return 0, s.wrap(op, p.Pool, err)
		}
		if st {
			drop = append(drop, f.ID)
		}
	}
	n := int64(len(drop))
	// Chunks without a file document: an upload under way (kept while its
	// lease is held) or one that died.
	res := b.GetChunksCollection().Distinct(ctx, "files_id", bson.D{})
	if err := res.Err(); err != nil {
		return 0, s.wrap(op, p.Pool, err)
	}
	var chunkFiles []any
	if err := res.Decode(&chunkFiles); err != nil {
		return 0, s.wrap(op, p.Pool, err)
	}
	for _, id := range chunkFiles {
		task, token, ok := parseFileID(id)
		if !ok || known[id.(string)] {
			continue
		}
		st, err := stale(task, token)
		if err != nil {
			return 0, s.wrap(op, p.Pool, err)
		}
		if st {
			drop = append(drop, id)
		}
	}
	if err := deleteFileIDs(ctx, b, drop); err != nil {
		return 0, s.wrap(op, p.Pool, err)
	}
	return n, nil
}

// ListArtifacts implements taskstate.ArtifactStore.
func (s *Store) ListArtifacts(ctx context.Context, p taskstate.ListArtifactsParams) ([]taskstate.Artifact, error) {
	const op = "list artifacts"
	c, b, err := s.artifactColls(p.Pool)
	if err != nil {
		return nil, err
	}
	token, err := s.committedToken(ctx, c, p.ID)
	if err != nil || token == "" {
		return nil, s.wrapNil(op, p.Pool, err)
	}
	cur, err := b.GetFilesCollection().Find(ctx, committedFilter(p.ID, token), options.Find().SetSort(bson.D{{Key: "filename", Value: 1}}))
	if err != nil {
		return nil, s.wrap(op, p.Pool, err)
	}
	var files []artifactFile
	if err := cur.All(ctx, &files); err != nil {
		return nil, s.wrap(op, p.Pool, err)
	}
	out := make([]taskstate.Artifact, len(files))
	for i, f := range files {
		out[i] = f.artifact()
	}
	return out, nil
}

func (s *Store) wrapNil(op, pool string, err error) error {
	if err == nil {
		return nil
	}
	return s.wrap(op, pool, err)
}

// committedFilter matches the committed files of a task.
func committedFilter(id, token string) bson.D {
	return bson.D{
		{Key: "metadata.task", Value: id}, {Key: "metadata.token", Value: token},
		{Key: "metadata.state", Value: stateStaged},
	}
}

// OpenArtifact implements taskstate.ArtifactStore. It reads the chunks
// itself through a cursor of small batches (see chunkReader), rather than
// through the driver's download stream, whose getMore batches
// hold a whole server batch (up to 16 MiB, more on servers that do not cap
// it) at once.
func (s *Store) OpenArtifact(ctx context.Context, p taskstate.OpenArtifactParams) (io.ReadCloser, taskstate.Artifact, error) {
	const op = "open artifact"
	c, b, err := s.artifactColls(p.Pool)
	if err != nil {
		return nil, taskstate.Artifact{}, err
	}
	notFound := fmt.Errorf("%w: %q of task %s in pool %s", taskstate.ErrArtifactNotFound, p.Name, p.ID, p.Pool)
	token, err := s.committedToken(ctx, c, p.ID)
	if err != nil {
		return nil, taskstate.Artifact{}, s.wrap(op, p.Pool, err)
	}
	if token == "" {
		return nil, taskstate.Artifact{}, notFound
	}
	var f artifactFile
	err = b.GetFilesCollection().FindOne(ctx, append(committedFilter(p.ID, token), bson.E{Key: "filename", Value: p.Name})).Decode(&f)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, taskstate.Artifact{}, notFound
	}
	if err != nil {
		return nil, taskstate.Artifact{}, s.wrap(op, p.Pool, err)
	}
	if f.ChunkSize <= 0 && f.Length > 0 {
		return nil, taskstate.Artifact{}, fmt.Errorf("mongostore: %s: artifact %q of task %s: file document has chunk size %d", op, p.Name, p.ID, f.ChunkSize)
	}
	r := &chunkReader{ctx: ctx, chunks: b.GetChunksCollection(), file: f}
	if f.Length > 0 {
		r.total = int32((f.Length + int64(f.ChunkSize) - 1) / int64(f.ChunkSize))
	}
	return r, f.artifact(), nil
}

// chunkReader reads a GridFS file's chunks in order through one cursor
// whose batches are readBatchChunks chunks (4 MiB), so a read holds at most
// one batch of chunk data. A missing, misnumbered or wrongly sized chunk
// fails the read; the file is never returned short.
type chunkReader struct {
	ctx    context.Context
	chunks *mongo.Collection
	file   artifactFile
	total  int32 // chunks the file has
	next   int32 // number of the next chunk expected
	cur    *mongo.Cursor
	data   []byte
	closed bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, errors.New("mongostore: read of a closed artifact")
	}
	for len(r.data) == 0 {
		if r.next >= r.total {
			return 0, io.EOF
		}
		if err := r.nextChunk(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// nextChunk reads the next chunk (opening the cursor on first use) and
// checks its number and size against the file document.
func (r *chunkReader) nextChunk() error {
	name := r.file.Metadata.Name
	if r.cur == nil {
		cur, err := r.chunks.Find(r.ctx, bson.D{{Key: "files_id", Value: r.file.ID}},
			options.Find().SetSort(bson.D{{Key: "n", Value: 1}}).SetBatchSize(readBatchChunks))
		if err != nil {
			return fmt.Errorf("mongostore: read artifact %q: %w", name, err)
		}
		r.cur = cur
	}
	if !r.cur.Next(r.ctx) {
		if err := r.cur.Err(); err != nil {
			return fmt.Errorf("mongostore: read artifact %q: %w", name, err)
		}
		return fmt.Errorf("mongostore: read artifact %q: chunk %d of %d missing", name, r.next, r.total)
	}
	var ch struct {
		N    int32       `bson:"n"`
		Data bson.Binary `bson:"data"`
	}
	if err := r.cur.Decode(&ch); err != nil {
		return fmt.Errorf("mongostore: read artifact %q: %w", name, err)
	}
	want := int64(r.file.ChunkSize)
	if ch.N == r.total-1 {
		want = r.file.Length - int64(r.total-1)*int64(r.file.ChunkSize)
	}
	if ch.N != r.next || int64(len(ch.Data.Data)) != want {
		return fmt.Errorf("mongostore: read artifact %q: chunk %d of %d missing or corrupt", name, r.next, r.total)
	}
	r.data = ch.Data.Data
	r.next++
	return nil
}

func (r *chunkReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed, r.data = true, nil
	if r.cur == nil {
		return nil
	}
	return r.cur.Close(r.ctx)
}

// DeleteArtifacts implements taskstate.ArtifactStore.
func (s *Store) DeleteArtifacts(ctx context.Context, p taskstate.DeleteArtifactsParams) error {
	return s.deleteArtifacts(ctx, p.Pool, p.IDs)
}

// deleteArtifacts removes every file of the given tasks. Store.Delete and
// Store.Update (to waiting) call it with the ids they matched.
func (s *Store) deleteArtifacts(ctx context.Context, pool string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	b, err := s.bucket(pool)
	if err != nil {
		return err
	}
	const batch = 500
	for off := 0; off < len(ids); off += batch {
		in := bson.D{{Key: "$in", Value: ids[off:min(off+batch, len(ids))]}}
		if err := s.deleteFiles(ctx, b, bson.D{{Key: "metadata.task", Value: in}}); err != nil {
			return s.wrap("delete artifacts", pool, err)
		}
	}
	return nil
}

// chunkWriter inserts a GridFS file's chunks (documents {_id, files_id, n,
// data} of ChunkSize bytes, the last shorter), writeBatchChunks per
// insertMany. The driver's GridFSUploadStream would buffer 16 MiB and send
// it as one message, which costs the client over 100 MiB of heap at its
// peak (the message buffer grows by doubling). Each insertMany makes a few
// times its size in garbage (the driver encodes every document into a
// buffer grown by doubling, then copies it into the message), and a worker
// (GC target 400 %) lets garbage grow to five times what is live: with
// 4 MiB batches a worker storing 200 MB peaked at 150-165 MiB of RSS, with
// 1 MiB batches at 61 MiB. chunkReader reads the file back.
type chunkWriter struct {
	ctx    context.Context
	chunks *mongo.Collection
	id     string
	n      int32
	batch  []any
	// bufs hold the data of the batch's chunks, reused from batch to batch
	// (InsertMany has encoded them when it returns): an upload makes no
	// garbage of its own, which matters to a worker whose collector lets
	// the heap grow to several times what is live.
	bufs [][]byte
}

// Chunks per insertMany of a write and per cursor batch of a read.
const (
	writeBatchChunks = 8  // 1 MiB
	readBatchChunks  = 32 // 4 MiB
)

func (w *chunkWriter) write(data []byte) error {
	i := len(w.batch)
	if i == len(w.bufs) {
		w.bufs = append(w.bufs, make([]byte, 0, ChunkSize))
	}
	w.bufs[i] = append(w.bufs[i][:0], data...)
	w.batch = append(w.batch, bson.D{
		{Key: fID, Value: bson.NewObjectID()}, {Key: "files_id", Value: w.id}, {Key: "n", Value: w.n},
		{Key: "data", Value: bson.Binary{Data: w.bufs[i]}},
	})
	w.n++
	if len(w.batch) == writeBatchChunks {
		return w.flush()
	}
	return nil
}

func (w *chunkWriter) flush() error {
	if len(w.batch) == 0 {
		return nil
	}
	_, err := w.chunks.InsertMany(w.ctx, w.batch)
	clear(w.batch)
	w.batch = w.batch[:0]
	return err
}
