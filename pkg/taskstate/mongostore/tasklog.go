package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

var _ taskstate.LogStore = (*Store)(nil)

// logsSuffix names a pool's log collection, "POOL.logs". Pool names hold
// no dots, so it never clashes with a pool, and ListPools leaves it out.
const logsSuffix = ".logs"

// logDoc is the stored log of one attempt; its _id is "TASKID/ATTEMPT" in
// phase one and "TASKID/part_done/ATTEMPT" in phase two.
type logDoc struct {
	ID        string    `bson:"_id"`
	Task      string    `bson:"task"`
	Phase     int       `bson:"phase"` // 1 or 2; logs written before phases were kept have none: 1
	Attempt   int       `bson:"attempt"`
	Total     int64     `bson:"total"`
	Tail      []byte    `bson:"tail"`
	UpdatedAt time.Time `bson:"updated_at"`
}

func (s *Store) logColl(pool string) (*mongo.Collection, error) {
	if err := taskstate.ValidatePool(pool); err != nil {
		return nil, err
	}
	return s.db.Collection(pool + logsSuffix), nil
}

// PutLog stores (replaces) the log of one attempt. A log of a task that
// is not in the pool is taken away again, so none is left orphaned, and
// the call reports ErrNotFound. The log is written before the task is
// read: a removal between the two still takes it (Delete removes the tasks,
// then their logs).
func (s *Store) PutLog(ctx context.Context, p taskstate.PutLogParams) error {
	lc, err := s.logColl(p.Pool)
	if err != nil {
		return err
	}
	l, err := p.Bounded()
	if err != nil {
		return err
	}
	doc := logDoc{ID: fmt.Sprintf("%s/%d", l.ID, l.Attempt), Task: l.ID, Phase: 1, Attempt: l.Attempt, Total: l.Total, Tail: l.Tail, UpdatedAt: l.UpdatedAt.UTC()}
	if l.PhaseTwo() {
		doc.ID, doc.Phase = fmt.Sprintf("%s/%s/%d", l.ID, taskstate.StatusPartDone, l.Attempt), 2
	}
	if _, err := lc.ReplaceOne(ctx, bson.D{{Key: fID, Value: doc.ID}}, doc, options.Replace().SetUpsert(true)); err != nil {
		return s.wrap("put log", p.Pool, err)
	}
	if _, err := s.Get(ctx, taskstate.GetParams{Pool: p.Pool, ID: l.ID}); err != nil {
		if !errors.Is(err, taskstate.ErrNotFound) {
			return err
		}
		if _, derr := lc.DeleteOne(ctx, bson.D{{Key: fID, Value: doc.ID}}); derr != nil {
			return s.wrap("put log", p.Pool, derr)
		}
		return fmt.Errorf("mongostore: put log of task %s: %w", l.ID, err)
	}
	return nil
}

// GetLogs returns a task's logs, oldest attempt first.
func (s *Store) GetLogs(ctx context.Context, p taskstate.GetLogsParams) ([]taskstate.TaskLog, error) {
	lc, err := s.logColl(p.Pool)
	if err != nil {
		return nil, err
	}
	filter := bson.D{{Key: "task", Value: p.ID}}
	switch p.Phase {
	case taskstate.StatusWaiting:
		filter = append(filter, bson.E{Key: "phase", Value: bson.D{{Key: "$ne", Value: 2}}})
	case taskstate.StatusPartDone:
		filter = append(filter, bson.E{Key: "phase", Value: 2})
	}
	if p.Attempt > 0 {
		filter = append(filter, bson.E{Key: "attempt", Value: p.Attempt})
	}
	cur, err := lc.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "phase", Value: 1}, {Key: "attempt", Value: 1}}))
	if err != nil {
		return nil, s.wrap("get logs", p.Pool, err)
	}
	var docs []logDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, s.wrap("get logs", p.Pool, err)
	}
	out := make([]taskstate.TaskLog, len(docs))
	for i, d := range docs {
		out[i] = taskstate.TaskLog{ID: d.Task, Phase: taskstate.StatusWaiting, Attempt: d.Attempt, Total: d.Total, Tail: d.Tail, UpdatedAt: d.UpdatedAt}
		if d.Phase == 2 {
			out[i].Phase = taskstate.StatusPartDone
		}
	}
	return out, nil
}

// deleteLogs removes the logs of the given tasks.
func (s *Store) deleteLogs(ctx context.Context, pool string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	lc, err := s.logColl(pool)
	if err != nil {
		return err
	}
	if _, err := lc.DeleteMany(ctx, bson.D{{Key: "task", Value: bson.D{{Key: "$in", Value: ids}}}}); err != nil {
		return s.wrap("delete logs", pool, err)
	}
	return nil
}
