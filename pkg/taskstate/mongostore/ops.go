package mongostore

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// A pool's admin state is the document {_id: "state"} of "POOL.meta"; its
// worker registry is "POOL.workers", one document per worker. Pool names
// hold no dots, so neither clashes with a pool, and ListPools leaves them
// out.
const (
	metaSuffix    = ".meta"
	workersSuffix = ".workers"
	stateID       = "state"
)

// workerForget is how long an expired worker entry is kept before a
// PutWorker of the pool deletes it.
const workerForget = time.Hour

type stateDoc struct {
	ID       string    `bson:"_id"`
	Paused   bool      `bson:"paused"`
	Reason   string    `bson:"reason,omitempty"`
	PausedAt time.Time `bson:"paused_at,omitempty"`
}

type workerDoc struct {
	ID          string    `bson:"_id"`
	Host        string    `bson:"host"`
	PID         int       `bson:"pid"`
	Kinds       []string  `bson:"kinds"`
	Concurrency int       `bson:"concurrency"`
	From        string    `bson:"from"`
	Version     string    `bson:"version"`
	StartedAt   time.Time `bson:"started_at"`
	SeenAt      time.Time `bson:"seen_at"`
	ExpiresAt   time.Time `bson:"expires_at"`
}

func (s *Store) sideColl(pool, suffix string) (*mongo.Collection, error) {
	if err := taskstate.ValidatePool(pool); err != nil {
		return nil, err
	}
	return s.db.Collection(pool + suffix), nil
}

// SetPaused implements taskstate.OpsStore. Pausing a paused pool keeps
// the first pause's time.
func (s *Store) SetPaused(ctx context.Context, p taskstate.SetPausedParams) error {
	c, err := s.sideColl(p.Pool, metaSuffix)
	if err != nil {
		return err
	}
	d := stateDoc{ID: stateID, Paused: p.Paused}
	if p.Paused {
		cur, err := s.PoolState(ctx, p.Pool)
		if err != nil {
			return err
		}
		d.Reason, d.PausedAt = p.Reason, p.Now
		if cur.Paused {
			d.PausedAt = cur.PausedAt
		}
	}
	_, err = c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: stateID}}, d, options.Replace().SetUpsert(true))
	return s.wrap("set paused", p.Pool, err)
}

// PoolState implements taskstate.OpsStore.
func (s *Store) PoolState(ctx context.Context, pool string) (taskstate.PoolState, error) {
	c, err := s.sideColl(pool, metaSuffix)
	if err != nil {
		return taskstate.PoolState{}, err
	}
	var d stateDoc
	err = c.FindOne(ctx, bson.D{{Key: "_id", Value: stateID}}).Decode(&d)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return taskstate.PoolState{}, nil
	case err != nil:
		return taskstate.PoolState{}, s.wrap("pool state", pool, err)
	}
	return taskstate.PoolState{Paused: d.Paused, Reason: d.Reason, PausedAt: d.PausedAt}, nil
}

// paused is the claim's pause check: one read by _id before the claim's
// updates. A pause that lands during a claim takes effect at the next one.
func (s *Store) paused(ctx context.Context, pool string) (bool, error) {
	st, err := s.PoolState(ctx, pool)
	return st.Paused, err
}

// PutWorker implements taskstate.OpsStore. It also forgets the pool's
// entries that expired long ago (crashed workers).
func (s *Store) PutWorker(ctx context.Context, p taskstate.PutWorkerParams) error {
	c, err := s.sideColl(p.Pool, workersSuffix)
	if err != nil {
		return err
	}
	w := p.Worker
	d := workerDoc{ID: w.ID, Host: w.Host, PID: w.PID, Kinds: w.Kinds, Concurrency: w.Concurrency, From: string(w.From),
		Version: w.Version, StartedAt: w.StartedAt, SeenAt: w.SeenAt, ExpiresAt: w.ExpiresAt}
	if _, err := c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: w.ID}}, d, options.Replace().SetUpsert(true)); err != nil {
		return s.wrap("put worker", p.Pool, err)
	}
	_, err = c.DeleteMany(ctx, bson.D{{Key: "expires_at", Value: bson.D{{Key: "$lt", Value: w.SeenAt.Add(-workerForget)}}}})
	return s.wrap("put worker", p.Pool, err)
}

// RemoveWorker implements taskstate.OpsStore.
func (s *Store) RemoveWorker(ctx context.Context, p taskstate.RemoveWorkerParams) error {
	c, err := s.sideColl(p.Pool, workersSuffix)
	if err != nil {
		return err
	}
	_, err = c.DeleteOne(ctx, bson.D{{Key: "_id", Value: p.ID}})
	return s.wrap("remove worker", p.Pool, err)
}

// ListWorkers implements taskstate.OpsStore.
func (s *Store) ListWorkers(ctx context.Context, p taskstate.ListWorkersParams) ([]taskstate.WorkerInfo, error) {
	c, err := s.sideColl(p.Pool, workersSuffix)
	if err != nil {
		return nil, err
	}
	cur, err := c.Find(ctx, bson.D{{Key: "expires_at", Value: bson.D{{Key: "$gt", Value: p.Now}}}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, s.wrap("list workers", p.Pool, err)
	}
	var docs []workerDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, s.wrap("list workers", p.Pool, err)
	}
	out := make([]taskstate.WorkerInfo, len(docs))
	for i, d := range docs {
		out[i] = taskstate.WorkerInfo{ID: d.ID, Host: d.Host, PID: d.PID, Kinds: d.Kinds, Concurrency: d.Concurrency,
			From: taskstate.Status(d.From), Version: d.Version, StartedAt: d.StartedAt, SeenAt: d.SeenAt, ExpiresAt: d.ExpiresAt}
	}
	return out, nil
}

// keepCancelled is Update's condition for UpdateParams.KeepCancelled.
func keepCancelled() bson.E {
	return bson.E{Key: "$nor", Value: bson.A{bson.D{{Key: fLastError, Value: bson.D{{Key: "$regex", Value: "^" + taskstate.CancelledPrefix}}}}}}
}
