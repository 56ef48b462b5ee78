package mongostore

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// Stored field names.
const (
	fID          = "_id"
	fDef         = "def"
	fFilter      = "filter"
	fKey         = "key"
	fStatus      = "status"
	fRes         = "res"
	fPriority    = "priority"
	fKind        = "kind"
	fAttempts    = "attempts"
	fMaxAttempts = "max_attempts"
	fLastError   = "last_error"
	fLease       = "lease"
	fLeaseOwner  = "lease.owner"
	fLeaseToken  = "lease.token"
	fLeaseUntil  = "lease.until"
	fClaimedFrom = "claimed_from"
	fRunAfter    = "run_after"
	fCreatedAt   = "created_at"
	fUpdatedAt   = "updated_at"
	fStartedAt   = "started_at"
	fFinishedAt  = "finished_at"
	fSeq         = "seq"
)

// taskDoc is a stored task as read back.
type taskDoc struct {
	ID          bson.ObjectID `bson:"_id"`
	Def         []byte        `bson:"def,omitempty"`
	Filter      bson.Raw      `bson:"filter,omitempty"`
	Key         string        `bson:"key,omitempty"`
	Status      string        `bson:"status,omitempty"`
	Res         []byte        `bson:"res,omitempty"`
	Priority    int           `bson:"priority,omitempty"`
	Kind        string        `bson:"kind,omitempty"`
	Attempts    int           `bson:"attempts,omitempty"`
	MaxAttempts int           `bson:"max_attempts,omitempty"`
	LastError   string        `bson:"last_error,omitempty"`
	Lease       *leaseDoc     `bson:"lease,omitempty"`
	ClaimedFrom string        `bson:"claimed_from,omitempty"`
	RunAfter    time.Time     `bson:"run_after,omitempty"`
	CreatedAt   time.Time     `bson:"created_at,omitempty"`
	UpdatedAt   time.Time     `bson:"updated_at,omitempty"`
	StartedAt   time.Time     `bson:"started_at,omitempty"`
	FinishedAt  time.Time     `bson:"finished_at,omitempty"`
	Seq         int64         `bson:"seq,omitempty"`
}

type leaseDoc struct {
	Owner string    `bson:"owner,omitempty"`
	Token string    `bson:"token,omitempty"`
	Until time.Time `bson:"until,omitempty"`
}

// task converts a stored document to the API's Task.
func (d *taskDoc) task() (*taskstate.Task, error) {
	t := &taskstate.Task{
		ID:          d.ID.Hex(),
		Kind:        d.Kind,
		Key:         d.Key,
		Status:      taskstate.Status(d.Status),
		Priority:    d.Priority,
		Seq:         d.Seq,
		Def:         d.Def,
		Res:         d.Res,
		Attempts:    d.Attempts,
		MaxAttempts: d.MaxAttempts,
		LastError:   d.LastError,
		ClaimedFrom: taskstate.Status(d.ClaimedFrom),
		RunAfter:    d.RunAfter,
		CreatedAt:   d.CreatedAt,
		UpdatedAt:   d.UpdatedAt,
		StartedAt:   d.StartedAt,
		FinishedAt:  d.FinishedAt,
	}
	if d.Lease != nil {
		t.Lease = taskstate.Lease{Owner: d.Lease.Owner, Token: d.Lease.Token, Until: d.Lease.Until}
	}
	if len(d.Filter) > 0 {
		m, err := rawToMap(d.Filter)
		if err != nil {
			return nil, fmt.Errorf("task %s: filter: %w", t.ID, err)
		}
		t.Filter = m
	}
	return t, nil
}

// newTaskDoc builds the document inserted for a new task.
func newTaskDoc(id bson.ObjectID, nt taskstate.NewTask, now time.Time, seq int64) bson.D {
	return bson.D{
		{Key: fID, Value: id},
		{Key: fKey, Value: nt.Key},
		{Key: fKind, Value: nt.Kind},
		{Key: fStatus, Value: string(taskstate.StatusWaiting)},
		{Key: fPriority, Value: nt.Priority},
		{Key: fSeq, Value: seq},
		{Key: fAttempts, Value: 0},
		{Key: fMaxAttempts, Value: nt.MaxAttempts},
		{Key: fFilter, Value: toBSON(nt.Filter)}, // a nil map gives {}
		{Key: fDef, Value: binary(nt.Def)},
		{Key: fCreatedAt, Value: now},
		{Key: fUpdatedAt, Value: now},
	}
}

// binary stores a payload; nil stays null.
func binary(b []byte) any {
	if b == nil {
		return nil
	}
	return bson.Binary{Subtype: bson.TypeBinaryGeneric, Data: b}
}

// toBSON converts a JSON-shaped value (the filter, a query value) to BSON:
// maps become documents with their keys sorted, so the same map is always
// stored and compared as the same document (MongoDB compares embedded
// documents field by field, in order); slices become arrays.
func toBSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		d := make(bson.D, 0, len(keys))
		for _, k := range keys {
			d = append(d, bson.E{Key: k, Value: toBSON(x[k])})
		}
		return d
	case []any:
		a := make(bson.A, len(x))
		for i, e := range x {
			a[i] = toBSON(e)
		}
		return a
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case taskstate.Status:
		return string(x)
	}
	return v
}

// rawToMap converts a stored sub-document to the JSON shape of
// Task.Filter: map[string]any, []any, float64 for every number, string,
// bool and nil. Other BSON types (a document written by another program)
// keep their driver representation; an ObjectID becomes its hex string.
func rawToMap(r bson.Raw) (map[string]any, error) {
	elems, err := r.Elements()
	if err != nil {
		return nil, err
	}
	m := make(map[string]any, len(elems))
	for _, e := range elems {
		v, err := rawToAny(e.Value())
		if err != nil {
			return nil, err
		}
		m[e.Key()] = v
	}
	return m, nil
}

func rawToAny(v bson.RawValue) (any, error) {
	switch v.Type {
	case bson.TypeEmbeddedDocument:
		return rawToMap(v.Document())
	case bson.TypeArray:
		vals, err := v.Array().Values()
		if err != nil {
			return nil, err
		}
		out := make([]any, len(vals))
		for i, e := range vals {
			if out[i], err = rawToAny(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	case bson.TypeDouble:
		return v.Double(), nil
	case bson.TypeInt32:
		return float64(v.Int32()), nil
	case bson.TypeInt64:
		return float64(v.Int64()), nil
	case bson.TypeString:
		return v.StringValue(), nil
	case bson.TypeBoolean:
		return v.Boolean(), nil
	case bson.TypeNull, bson.TypeUndefined:
		return nil, nil
	case bson.TypeObjectID:
		return v.ObjectID().Hex(), nil
	case bson.TypeDateTime:
		return v.Time(), nil
	}
	var out any
	if err := v.Unmarshal(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// lastSeq is the last seq handed out by this process.
var lastSeq atomic.Int64

// nextSeqs reserves n consecutive seq values and returns the first. A seq
// is the creation time in Unix nanoseconds, bumped so that it is strictly
// greater than every seq this process handed out before: creation order
// holds within a process even when the clock stands still or steps back,
// and across processes it is the order of their clocks.
func nextSeqs(now time.Time, n int) int64 {
	for {
		last := lastSeq.Load()
		base := max(now.UnixNano(), last+1)
		if lastSeq.CompareAndSwap(last, base+int64(n)-1) {
			return base
		}
	}
}
