package mongostore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

const (
	// lookupBatch caps the keys of one {key: {$in: …}} lookup, well under
	// the 16 MB command limit (a key is 64 hex digits).
	lookupBatch = 10_000
	// createRetries bounds the re-inserts of tasks whose duplicate was
	// deleted between the insert and the lookup of its id.
	createRetries = 3
	// finishParallel is the number of fenced updates Finish keeps in flight.
	finishParallel = 8
	// codeDuplicateKey is MongoDB's E11000.
	codeDuplicateKey = 11000
)

// noPayloads is the projection that leaves out def and res.
var noPayloads = bson.D{{Key: fDef, Value: 0}, {Key: fRes, Value: 0}}

// CreateTasks inserts the new tasks with one unordered insertMany. The
// unique index on key decides concurrent creators: a task whose insert
// fails with a duplicate-key error (E11000) gets the id of the stored task
// with its key, read back with one find on the keys, and Created false.
// Should that task be deleted before the find, the insert is tried again.
// Under DryRun only the find runs.
func (s *Store) CreateTasks(ctx context.Context, p taskstate.CreateTasksParams) ([]taskstate.CreatedTask, error) {
	c, err := s.coll(p.Pool)
	if err != nil {
		return nil, err
	}
	out := make([]taskstate.CreatedTask, len(p.Tasks))
	if len(p.Tasks) == 0 {
		return out, nil
	}
	ids := make([]bson.ObjectID, len(p.Tasks))
	keys := make([]string, len(p.Tasks))
	for i, nt := range p.Tasks {
		if nt.Key == "" {
			return nil, fmt.Errorf("%w: task %d: empty key", taskstate.ErrInvalidTask, i)
		}
		keys[i] = nt.Key
		if nt.ID == "" {
			ids[i] = bson.NewObjectID()
			continue
		}
		if ids[i], err = bson.ObjectIDFromHex(nt.ID); err != nil {
			return nil, fmt.Errorf("%w: task %d: malformed id %q (want 24 hex digits)", taskstate.ErrInvalidTask, i, nt.ID)
		}
	}

	if p.DryRun {
		existing, err := s.lookupKeys(ctx, c, p.Pool, keys)
		if err != nil {
			return nil, err
		}
		for i, k := range keys {
			if id, ok := existing[k]; ok {
				out[i] = taskstate.CreatedTask{ID: id.Hex()}
			} else {
				out[i] = taskstate.CreatedTask{Created: true}
			}
		}
		return out, nil
	}

	if err := s.ensureIndexes(ctx, p.Pool, c); err != nil {
		return nil, err
	}
	seq := nextSeqs(p.Now, len(p.Tasks))
	docs := make([]bson.Raw, len(p.Tasks))
	for i, nt := range p.Tasks {
		if docs[i], err = marshalNewTask(i, newTaskDoc(ids[i], nt, p.Now, seq+int64(i))); err != nil {
			return nil, err
		}
	}

	pending := make([]int, len(p.Tasks)) // indexes into p.Tasks still to settle
	for i := range pending {
		pending[i] = i
	}
	for attempt := 1; ; attempt++ {
		batch := make([]any, len(pending))
		for j, i := range pending {
			batch[j] = docs[i]
		}
		_, err := c.InsertMany(ctx, batch, options.InsertMany().SetOrdered(false))
		dups, err := duplicates(err)
		if err != nil {
			return nil, s.wrap("create tasks", p.Pool, err)
		}
		var dupIdx []int
		for j, i := range pending {
			if dups[j] {
				dupIdx = append(dupIdx, i)
			} else {
				out[i] = taskstate.CreatedTask{ID: ids[i].Hex(), Created: true}
			}
		}
		if len(dupIdx) == 0 {
			return out, nil
		}
		dupKeys := make([]string, len(dupIdx))
		for j, i := range dupIdx {
			dupKeys[j] = keys[i]
		}
		existing, err := s.lookupKeys(ctx, c, p.Pool, dupKeys)
		if err != nil {
			return nil, err
		}
		pending = pending[:0]
		for _, i := range dupIdx {
			if id, ok := existing[keys[i]]; ok {
				// Our own id when an earlier try of this very insert
				// got through (a caller's retry after a lost reply).
				out[i] = taskstate.CreatedTask{ID: id.Hex(), Created: id == ids[i]}
			} else {
				pending = append(pending, i)
			}
		}
		if len(pending) == 0 {
			return out, nil
		}
		if attempt == createRetries {
			return nil, fmt.Errorf("mongostore: create tasks (pool %q): %d keys were reported duplicate but their tasks vanished, %d times", p.Pool, len(pending), attempt)
		}
	}
}

// duplicates reads the error of an unordered insertMany: which documents
// (by index in the batch) failed with a duplicate-key error. Any other
// error, a write concern error included, is returned as is.
func duplicates(err error) (map[int]bool, error) {
	if err == nil {
		return nil, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return nil, err
	}
	dups := make(map[int]bool, len(bwe.WriteErrors))
	for _, we := range bwe.WriteErrors {
		if we.Code != codeDuplicateKey {
			return nil, err
		}
		dups[we.Index] = true
	}
	return dups, nil
}

// lookupKeys returns the ids of the stored tasks with the given keys.
func (s *Store) lookupKeys(ctx context.Context, c *mongo.Collection, pool string, keys []string) (map[string]bson.ObjectID, error) {
	found := make(map[string]bson.ObjectID, len(keys))
	for start := 0; start < len(keys); start += lookupBatch {
		chunk := keys[start:min(start+lookupBatch, len(keys))]
		cur, err := c.Find(ctx, bson.D{{Key: fKey, Value: bson.D{{Key: "$in", Value: chunk}}}},
			options.Find().SetProjection(bson.D{{Key: fID, Value: 1}, {Key: fKey, Value: 1}}))
		if err != nil {
			return nil, s.wrap("look up keys", pool, err)
		}
		var rows []struct {
			ID  bson.ObjectID `bson:"_id"`
			Key string        `bson:"key"`
		}
		if err := cur.All(ctx, &rows); err != nil {
			return nil, s.wrap("look up keys", pool, err)
		}
		for _, r := range rows {
			found[r.Key] = r.ID
		}
	}
	return found, nil
}

// Claim runs up to Limit findOneAndUpdate calls, each atomically moving the
// first claimable task (priority descending, then seq) to running. It
// stops early when nothing is left, or when ctx is done: a call already
// sent runs to its end (bounded by claimCallTimeout) and its task is
// returned. If a call fails after some tasks were claimed, those tasks are
// returned without an error (they are leased to the caller and must not be
// orphaned); the error is logged and the next claim will meet it again.
func (s *Store) Claim(ctx context.Context, p taskstate.ClaimParams) ([]*taskstate.Task, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	c, err := s.coll(p.Pool)
	if err != nil {
		return nil, err
	}
	if p.Token == "" {
		return nil, errors.New("mongostore: claim: empty lease token")
	}
	qf, err := translateQuery(p.Query)
	if err != nil {
		return nil, err
	}
	now, err := s.now(ctx, p.Now)
	if err != nil {
		return nil, err
	}
	p.Now = now
	filter := claimFilter(p, qf)
	// An empty claim is a read: a find of one id first, so an idle worker
	// polls without writing. Each claim below stays atomic; the probe only
	// skips them when they would find nothing. A claim woken by an event
	// (p.Woken) leaves it out: it saves a pickup a round trip.
	if !p.Woken {
		probe := c.FindOne(ctx, filter, options.FindOne().SetProjection(bson.D{{Key: fID, Value: 1}}))
		if err := probe.Err(); errors.Is(err, mongo.ErrNoDocuments) {
			return nil, nil
		} else if err != nil {
			return nil, s.wrap("claim", p.Pool, err)
		}
	}
	// The pause is read only when there is work, so an empty claim stays
	// one read.
	if paused, err := s.paused(ctx, p.Pool); err != nil || paused {
		return nil, err
	}
	update := bson.D{
		{Key: "$set", Value: bson.D{
			{Key: fStatus, Value: string(taskstate.StatusRunning)},
			{Key: fLease, Value: bson.D{
				{Key: "owner", Value: p.Owner},
				{Key: "token", Value: p.Token},
				{Key: "until", Value: now.Add(p.Lease)},
			}},
			{Key: fClaimedFrom, Value: string(p.From)},
			{Key: fStartedAt, Value: p.Now},
			{Key: fUpdatedAt, Value: p.Now},
		}},
		{Key: "$inc", Value: bson.D{{Key: fAttempts, Value: 1}}},
	}
	opts := options.FindOneAndUpdate().
		SetSort(bson.D{{Key: fPriority, Value: -1}, {Key: fSeq, Value: 1}}).
		SetReturnDocument(options.After)
	limit := max(p.Limit, 1)
	tasks := make([]*taskstate.Task, 0, min(limit, 64))
	for len(tasks) < limit {
		// Cancellation is checked between calls, not during one (see
		// uncancelled): a claim in flight is run to its end and returned.
		if err := ctx.Err(); err != nil {
			if len(tasks) == 0 {
				return nil, fmt.Errorf("mongostore: claim (pool %q): %w", p.Pool, err)
			}
			break
		}
		var d taskDoc
		cctx, cancel := uncancelled(ctx)
		err := c.FindOneAndUpdate(cctx, filter, update, opts).Decode(&d)
		cancel()
		if errors.Is(err, mongo.ErrNoDocuments) {
			break
		}
		if err == nil {
			var t *taskstate.Task
			if t, err = d.task(); err == nil {
				tasks = append(tasks, t)
				continue
			}
		}
		err = s.wrap("claim", p.Pool, err)
		if len(tasks) == 0 {
			return nil, err
		}
		s.log.Warn("claim stopped early; returning the tasks already claimed",
			zap.String("pool", p.Pool), zap.Int("claimed", len(tasks)), zap.Error(err))
		break
	}
	return tasks, nil
}

// claimFilter selects the claimable tasks of a claim.
func claimFilter(p taskstate.ClaimParams, query bson.D) bson.D {
	filter := bson.D{
		{Key: fStatus, Value: string(p.From)},
		// {run_after: null} matches a missing run_after too.
		{Key: "$or", Value: bson.A{
			bson.D{{Key: fRunAfter, Value: nil}},
			bson.D{{Key: fRunAfter, Value: bson.D{{Key: "$lte", Value: p.Now}}}},
		}},
	}
	if len(p.Kinds) > 0 {
		filter = append(filter, bson.E{Key: fKind, Value: bson.D{{Key: "$in", Value: p.Kinds}}})
	}
	if len(query) > 0 {
		filter = append(filter, bson.E{Key: "$and", Value: bson.A{query}})
	}
	return filter
}

// Finish applies each transition as its own fenced updateOne on
// {_id, status: running, lease.token}, a few in parallel: only a
// per-document write tells which items applied (a bulkWrite reports counts
// only), and updateOne is a retryable write. It returns the applied flags
// and, if any write failed, the first error (the flags of the other items
// are still set).
func (s *Store) Finish(ctx context.Context, p taskstate.FinishParams) ([]bool, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	c, err := s.coll(p.Pool)
	if err != nil {
		return nil, err
	}
	now, err := s.now(ctx, p.Now)
	if err != nil {
		return nil, err
	}
	applied := make([]bool, len(p.Items))
	errs := make([]error, len(p.Items))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(p.Items), finishParallel) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(p.Items) {
					return
				}
				applied[i], errs[i] = s.finishOne(ctx, c, now, p.Items[i])
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return applied, s.wrap(fmt.Sprintf("finish task %s", p.Items[i].ID), p.Pool, err)
		}
	}
	return applied, nil
}

func (s *Store) finishOne(ctx context.Context, c *mongo.Collection, now time.Time, tr taskstate.Transition) (bool, error) {
	id, ok := taskID(tr.ID)
	if !ok || tr.Token == "" {
		return false, nil // no such task can be running under this lease
	}
	tr, err := s.fitCommit(ctx, c, id, tr)
	if err != nil {
		return false, err
	}
	fence := leaseFence(id, tr.Token)
	if tr.Expired {
		fence = append(fence, bson.E{Key: fLeaseUntil, Value: bson.D{{Key: "$lt", Value: now.Add(-tr.Grace)}}})
	}
	res, err := c.UpdateOne(ctx, fence, transitionUpdate(now, tr))
	if err != nil {
		return false, err
	}
	return res.MatchedCount == 1, nil
}

// taskID parses a task id; false for a malformed one, which no task has.
func taskID(id string) (bson.ObjectID, bool) {
	oid, err := bson.ObjectIDFromHex(id)
	return oid, err == nil
}

// leaseFence matches a task only while it is running under token.
func leaseFence(id bson.ObjectID, token string) bson.D {
	return bson.D{
		{Key: fID, Value: id},
		{Key: fStatus, Value: string(taskstate.StatusRunning)},
		{Key: fLeaseToken, Value: token},
	}
}

// transitionUpdate is the update of one move out of running: the lease and
// claimed_from go, run_after is set or cleared, res and last_error are set
// when asked for, finished_at is stamped on done, part_done and failed,
// attempts go back to 0 on a commit to part_done and down by one on a
// release.
func transitionUpdate(now time.Time, tr taskstate.Transition) bson.D {
	set := bson.D{
		{Key: fStatus, Value: string(tr.To)},
		{Key: fUpdatedAt, Value: now},
	}
	unset := bson.D{{Key: fLease, Value: ""}, {Key: fClaimedFrom, Value: ""}}
	if tr.SetRes {
		set = append(set, bson.E{Key: fRes, Value: binary(tr.Res)})
	}
	if tr.SetError {
		set = append(set, bson.E{Key: fLastError, Value: tr.LastError})
	}
	if tr.Delay == 0 {
		unset = append(unset, bson.E{Key: fRunAfter, Value: ""})
	} else {
		set = append(set, bson.E{Key: fRunAfter, Value: now.Add(tr.Delay)})
	}
	switch tr.To {
	case taskstate.StatusDone, taskstate.StatusPartDone, taskstate.StatusFailed:
		set = append(set, bson.E{Key: fFinishedAt, Value: now})
	}
	var inc bson.D
	switch {
	case tr.NewPhase():
		set = append(set, bson.E{Key: fAttempts, Value: 0}) // explicit: queries on attempts see it
	case tr.UndoAttempt:
		inc = bson.D{{Key: fAttempts, Value: -1}}
	}
	update := bson.D{{Key: "$set", Value: set}, {Key: "$unset", Value: unset}}
	if inc != nil {
		update = append(update, bson.E{Key: "$inc", Value: inc})
	}
	return update
}

// Heartbeat extends every held lease with one updateMany whose filter is
// the fence of each lease (running, with its token), grouped by token since
// a claim hands one token to all its tasks. A find with the same filter
// then tells which leases are still held: a token never comes back once
// lost, so a lease held after the update was held by it and was extended.
// The others are reported lost, in input order.
func (s *Store) Heartbeat(ctx context.Context, p taskstate.HeartbeatParams) ([]string, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	c, err := s.coll(p.Pool)
	if err != nil {
		return nil, err
	}
	var lost []string
	var tokens []string
	groups := make(map[string]bson.A)
	valid := make([]bool, len(p.Leases))
	for i, ref := range p.Leases {
		id, err := bson.ObjectIDFromHex(ref.ID)
		if err != nil || ref.Token == "" {
			continue
		}
		valid[i] = true
		if _, ok := groups[ref.Token]; !ok {
			tokens = append(tokens, ref.Token)
		}
		groups[ref.Token] = append(groups[ref.Token], id)
	}
	if len(tokens) == 0 {
		for _, ref := range p.Leases {
			lost = append(lost, ref.ID)
		}
		return lost, nil
	}
	filter := bson.D{{Key: fStatus, Value: string(taskstate.StatusRunning)}}
	fence := func(tok string) bson.D {
		return bson.D{
			{Key: fID, Value: bson.D{{Key: "$in", Value: groups[tok]}}},
			{Key: fLeaseToken, Value: tok},
		}
	}
	if len(tokens) == 1 {
		filter = append(filter, fence(tokens[0])...)
	} else {
		or := make(bson.A, len(tokens))
		for i, tok := range tokens {
			or[i] = fence(tok)
		}
		filter = append(filter, bson.E{Key: "$or", Value: or})
	}
	now, err := s.now(ctx, p.Now)
	if err != nil {
		return nil, err
	}
	update := bson.D{{Key: "$set", Value: bson.D{
		{Key: fLeaseUntil, Value: now.Add(p.Lease)},
		{Key: fUpdatedAt, Value: now},
	}}}
	if _, err := c.UpdateMany(ctx, filter, update); err != nil {
		return nil, s.wrap("heartbeat", p.Pool, err)
	}
	cur, err := c.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: fID, Value: 1}, {Key: fLeaseToken, Value: 1}}))
	if err != nil {
		return nil, s.wrap("heartbeat: read back", p.Pool, err)
	}
	var rows []struct {
		ID    bson.ObjectID `bson:"_id"`
		Lease leaseDoc      `bson:"lease"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, s.wrap("heartbeat: read back", p.Pool, err)
	}
	held := make(map[[2]string]bool, len(rows))
	for _, r := range rows {
		held[[2]string{r.ID.Hex(), r.Lease.Token}] = true
	}
	for i, ref := range p.Leases {
		if !valid[i] {
			lost = append(lost, ref.ID)
			continue
		}
		id, _ := bson.ObjectIDFromHex(ref.ID)
		if !held[[2]string{id.Hex(), ref.Token}] {
			lost = append(lost, ref.ID)
		}
	}
	return lost, nil
}

// ListExpired returns running tasks whose lease ended more than p.Grace
// before the server's now, oldest lease first, without payloads.
func (s *Store) ListExpired(ctx context.Context, p taskstate.ListExpiredParams) ([]*taskstate.Task, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	c, err := s.coll(p.Pool)
	if err != nil {
		return nil, err
	}
	now, err := s.now(ctx, p.Now)
	if err != nil {
		return nil, err
	}
	opts := options.Find().
		SetSort(bson.D{{Key: fLeaseUntil, Value: 1}}).
		SetProjection(noPayloads)
	if p.Limit > 0 {
		opts.SetLimit(int64(p.Limit))
	}
	cur, err := c.Find(ctx, bson.D{
		{Key: fStatus, Value: string(taskstate.StatusRunning)},
		{Key: fLeaseUntil, Value: bson.D{{Key: "$lt", Value: now.Add(-p.Grace)}}},
	}, opts)
	if err != nil {
		return nil, s.wrap("list expired", p.Pool, err)
	}
	return s.readAll(ctx, p.Pool, "list expired", cur)
}

func (s *Store) readAll(ctx context.Context, pool, op string, cur *mongo.Cursor) ([]*taskstate.Task, error) {
	defer cur.Close(context.WithoutCancel(ctx))
	var tasks []*taskstate.Task
	for cur.Next(ctx) {
		var d taskDoc
		if err := cur.Decode(&d); err != nil {
			return nil, s.wrap(op, pool, err)
		}
		t, err := d.task()
		if err != nil {
			return nil, s.wrap(op, pool, err)
		}
		tasks = append(tasks, t)
	}
	if err := cur.Err(); err != nil {
		return nil, s.wrap(op, pool, err)
	}
	return tasks, nil
}

// Update applies an admin change with one updateMany and returns how many
// tasks matched. A status change clears the lease, claimed_from and
// run_after, which fences out a worker still running a reset task.
func (s *Store) Update(ctx context.Context, p taskstate.UpdateParams) (int64, error) {
	c, err := s.coll(p.Pool)
	if err != nil {
		return 0, err
	}
	if p.Status != "" && !p.Status.Valid() {
		return 0, fmt.Errorf("%w: %q", taskstate.ErrInvalidStatus, p.Status)
	}
	filter, err := translateQuery(p.Query)
	if err != nil {
		return 0, err
	}
	set := bson.D{{Key: fUpdatedAt, Value: p.Now}}
	var unset bson.D
	if p.Status != "" {
		set = append(set, bson.E{Key: fStatus, Value: string(p.Status)})
		unset = append(unset,
			bson.E{Key: fLease, Value: ""},
			bson.E{Key: fClaimedFrom, Value: ""},
			bson.E{Key: fRunAfter, Value: ""})
	}
	if p.ResetAttempts {
		set = append(set, bson.E{Key: fAttempts, Value: 0})
		unset = append(unset, bson.E{Key: fLastError, Value: ""})
	}
	if p.Priority != nil {
		set = append(set, bson.E{Key: fPriority, Value: *p.Priority})
	}
	if p.LastError != nil {
		set = append(set, bson.E{Key: fLastError, Value: *p.LastError}, bson.E{Key: fFinishedAt, Value: p.Now})
	}
	if p.KeepCancelled {
		filter = bson.D{{Key: "$and", Value: bson.A{filter, bson.D{keepCancelled()}}}}
	}
	update := bson.D{{Key: "$set", Value: set}}
	if len(unset) > 0 {
		update = append(update, bson.E{Key: "$unset", Value: unset})
	}
	var reset []string // a task reset to waiting starts over: its artifacts go
	if p.Status == taskstate.StatusWaiting {
		if reset, err = s.matchingIDs(ctx, c, filter); err != nil {
			return 0, s.wrap("update", p.Pool, err)
		}
	}
	res, err := c.UpdateMany(ctx, filter, update)
	if err != nil {
		return 0, s.wrap("update", p.Pool, err)
	}
	if err := s.deleteArtifacts(ctx, p.Pool, reset); err != nil {
		return 0, err
	}
	return res.MatchedCount, nil
}

// Delete removes every task matching p.Query with one deleteMany.
func (s *Store) Delete(ctx context.Context, p taskstate.DeleteParams) (int64, error) {
	c, err := s.coll(p.Pool)
	if err != nil {
		return 0, err
	}
	filter, err := translateQuery(p.Query)
	if err != nil {
		return 0, err
	}
	// The ids first, for the tasks' logs: a task created between the two
	// calls has none yet.
	ids, err := s.matchingIDs(ctx, c, filter)
	if err != nil {
		return 0, s.wrap("delete", p.Pool, err)
	}
	res, err := c.DeleteMany(ctx, filter)
	if err != nil {
		return 0, s.wrap("delete", p.Pool, err)
	}
	if err := s.deleteLogs(ctx, p.Pool, ids); err != nil {
		return 0, err
	}
	if err := s.deleteArtifacts(ctx, p.Pool, ids); err != nil {
		return 0, err
	}
	return res.DeletedCount, nil
}

// matchingIDs returns the ids (as hex) of the tasks matching filter.
func (s *Store) matchingIDs(ctx context.Context, c *mongo.Collection, filter any) ([]string, error) {
	cur, err := c.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: fID, Value: 1}}))
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	var ids []string
	for cur.Next(ctx) {
		var d struct {
			ID bson.ObjectID `bson:"_id"`
		}
		if err := cur.Decode(&d); err != nil {
			return nil, err
		}
		ids = append(ids, d.ID.Hex())
	}
	return ids, cur.Err()
}

// Query streams the matching tasks in creation order (seq) from one
// cursor, which is closed when the loop ends or the consumer stops early.
// Nothing is read until the sequence is ranged over.
func (s *Store) Query(ctx context.Context, p taskstate.QueryParams) iter.Seq2[*taskstate.Task, error] {
	return func(yield func(*taskstate.Task, error) bool) {
		c, err := s.coll(p.Pool)
		if err != nil {
			yield(nil, err)
			return
		}
		filter, err := translateQuery(p.Query)
		if err != nil {
			yield(nil, err)
			return
		}
		// The seq index serves the sort; allowDiskUse covers a query
		// whose plan sorts in memory anyway.
		dir := 1
		if p.Desc {
			dir = -1
		}
		opts := options.Find().SetSort(bson.D{{Key: fSeq, Value: dir}}).SetAllowDiskUse(true)
		if !p.Payloads {
			opts.SetProjection(noPayloads)
		}
		if p.Limit > 0 {
			opts.SetLimit(int64(p.Limit))
		}
		cur, err := c.Find(ctx, filter, opts)
		if err != nil {
			yield(nil, s.wrap("query", p.Pool, err))
			return
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = cur.Close(cctx)
		}()
		for cur.Next(ctx) {
			var d taskDoc
			if err := cur.Decode(&d); err != nil {
				yield(nil, s.wrap("query", p.Pool, err))
				return
			}
			t, err := d.task()
			if err != nil {
				yield(nil, s.wrap("query", p.Pool, err))
				return
			}
			if !yield(t, nil) {
				return
			}
		}
		if err := cur.Err(); err != nil {
			yield(nil, s.wrap("query", p.Pool, err))
		}
	}
}

// Get returns one task. A missing or malformed id gives an error wrapping
// taskstate.ErrNotFound.
func (s *Store) Get(ctx context.Context, p taskstate.GetParams) (*taskstate.Task, error) {
	c, err := s.coll(p.Pool)
	if err != nil {
		return nil, err
	}
	id, err := bson.ObjectIDFromHex(p.ID)
	if err != nil {
		return nil, fmt.Errorf("mongostore: pool %q: %q is not a task id: %w", p.Pool, p.ID, taskstate.ErrNotFound)
	}
	opts := options.FindOne()
	if !p.Payloads {
		opts.SetProjection(noPayloads)
	}
	var d taskDoc
	err = c.FindOne(ctx, bson.D{{Key: fID, Value: id}}, opts).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("mongostore: pool %q: task %s: %w", p.Pool, p.ID, taskstate.ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap("get task "+p.ID, p.Pool, err)
	}
	t, err := d.task()
	if err != nil {
		return nil, s.wrap("get task "+p.ID, p.Pool, err)
	}
	return t, nil
}

// CountKinds implements taskstate.Store: a $limit then a $group, so the
// server reads at most Limit+1 matching documents (one more, to tell "all"
// from "Limit").
func (s *Store) CountKinds(ctx context.Context, p taskstate.CountKindsParams) (map[string]int, bool, error) {
	c, err := s.coll(p.Pool)
	if err != nil {
		return nil, false, err
	}
	filter, err := translateQuery(p.Query)
	if err != nil {
		return nil, false, err
	}
	limit := max(p.Limit, 1)
	pipeline := mongo.Pipeline{
		{{Key: "$match", Value: filter}},
		{{Key: "$limit", Value: int64(limit + 1)}},
		{{Key: "$group", Value: bson.D{
			{Key: "_id", Value: "$" + fKind},
			{Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}},
		}}},
	}
	cur, err := c.Aggregate(ctx, pipeline)
	if err != nil {
		return nil, false, s.wrap("count kinds", p.Pool, err)
	}
	var rows []struct {
		Kind any   `bson:"_id"`
		N    int64 `bson:"n"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, false, s.wrap("count kinds", p.Pool, err)
	}
	counts := map[string]int{}
	for _, r := range rows {
		if k, ok := r.Kind.(string); ok {
			counts[k] = int(r.N)
		}
	}
	kinds, all := taskstate.CapKinds(counts, limit)
	return kinds, all, nil
}

// Stat counts the matching tasks by status with one aggregation
// ($match, then $group on status); no document is read by the client.
// Statuses other than the five (written by another program) are ignored.
func (s *Store) Stat(ctx context.Context, p taskstate.StatParams) (taskstate.Counts, error) {
	c, err := s.coll(p.Pool)
	if err != nil {
		return nil, err
	}
	filter, err := translateQuery(p.Query)
	if err != nil {
		return nil, err
	}
	pipeline := mongo.Pipeline{
		{{Key: "$match", Value: filter}},
		{{Key: "$group", Value: bson.D{
			{Key: "_id", Value: "$" + fStatus},
			{Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}},
		}}},
	}
	cur, err := c.Aggregate(ctx, pipeline)
	if err != nil {
		return nil, s.wrap("stat", p.Pool, err)
	}
	var rows []struct {
		Status any   `bson:"_id"`
		N      int64 `bson:"n"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, s.wrap("stat", p.Pool, err)
	}
	counts := taskstate.NewCounts()
	for _, r := range rows {
		st, ok := r.Status.(string)
		if !ok || !taskstate.Status(st).Valid() {
			continue
		}
		counts[taskstate.Status(st)] += int(r.N)
	}
	return counts, nil
}
