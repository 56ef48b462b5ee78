package mongostore

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func mustOID(t *testing.T, hex string) bson.ObjectID {
	t.Helper()
	id, err := bson.ObjectIDFromHex(hex)
	require.NoError(t, err)
	return id
}

func op(name string, v any) bson.D { return bson.D{{Key: name, Value: v}} }

func TestTranslateQuery(t *testing.T) {
	t.Parallel()
	const id1, id2 = "65a1b2c3d4e5f60718293a4b", "65a1b2c3d4e5f60718293a4c"
	tests := []struct {
		name string
		q    taskstate.Query
		want bson.D
	}{
		{"empty", taskstate.Query{}, bson.D{}},
		{"id equality", taskstate.Query{}.Where("_id", taskstate.OpEq, id1),
			bson.D{{Key: "_id", Value: op("$eq", mustOID(t, id1))}}},
		{"ids", taskstate.ByIDs(id1, id2),
			bson.D{{Key: "_id", Value: op("$in", bson.A{mustOID(t, id1), mustOID(t, id2)})}}},
		{"statuses", taskstate.ByStatus(taskstate.StatusWaiting, taskstate.StatusFailed),
			bson.D{{Key: "status", Value: op("$in", bson.A{"waiting", "failed"})}}},
		{"status value of type Status", taskstate.Query{}.Where("status", taskstate.OpNe, taskstate.StatusDone),
			bson.D{{Key: "status", Value: op("$ne", "done")}}},
		{"range on one field merges", taskstate.Query{}.Where("priority", taskstate.OpGte, 1).Where("priority", taskstate.OpLt, 5.0),
			bson.D{{Key: "priority", Value: bson.D{{Key: "$gte", Value: 1}, {Key: "$lt", Value: 5.0}}}}},
		{"owner and kind", taskstate.Query{}.Where("lease.owner", taskstate.OpEq, "h:1").Where("kind", taskstate.OpNin, []any{"a", "b"}),
			bson.D{{Key: "lease.owner", Value: op("$eq", "h:1")}, {Key: "kind", Value: op("$nin", bson.A{"a", "b"})}}},
		{"exists", taskstate.Query{}.Where("filter.model.window", taskstate.OpExists, false),
			bson.D{{Key: "filter.model.window", Value: op("$exists", false)}}},
		{"repeated field and operator uses $and", taskstate.Query{}.Where("status", taskstate.OpNe, "done").Where("status", taskstate.OpNe, "failed"),
			bson.D{{Key: "$and", Value: bson.A{
				bson.D{{Key: "status", Value: op("$ne", "done")}},
				bson.D{{Key: "status", Value: op("$ne", "failed")}},
			}}}},
		{"whole filter document has sorted keys", taskstate.Query{}.Where("filter", taskstate.OpEq, map[string]any{"z": 1.0, "a": map[string]any{"y": "b", "x": []any{1.0, map[string]any{"k2": true, "k1": nil}}}}),
			bson.D{{Key: "filter", Value: op("$eq", bson.D{
				{Key: "a", Value: bson.D{{Key: "x", Value: bson.A{1.0, bson.D{{Key: "k1", Value: nil}, {Key: "k2", Value: true}}}}, {Key: "y", Value: "b"}}},
				{Key: "z", Value: 1.0},
			})}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := translateQuery(tt.q)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestTranslateQueryFromJSON(t *testing.T) {
	t.Parallel()
	q, err := taskstate.ParseQueryJSON(`{"status": "waiting", "filter.model.class": {"$in": ["A", "B"]}, "filter.seg.train.0": {"$gte": "2020-01-01"}, "priority": {"$gt": 2}}`)
	require.NoError(t, err)
	got, err := translateQuery(q)
	require.NoError(t, err)
	// ParseQuery sorts the top-level keys.
	require.Equal(t, bson.D{
		{Key: "filter.model.class", Value: op("$in", bson.A{"A", "B"})},
		{Key: "filter.seg.train.0", Value: op("$gte", "2020-01-01")},
		{Key: "priority", Value: op("$gt", 2.0)},
		{Key: "status", Value: op("$eq", "waiting")},
	}, got)
}

func TestTranslateQueryErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		q        taskstate.Query
		contains string
	}{
		{"malformed id", taskstate.Query{}.Where("_id", taskstate.OpEq, "nothex"), "_id.$eq: malformed id"},
		{"malformed id in list", taskstate.ByIDs("65a1b2c3d4e5f60718293a4b", "65a1b2c3d4e5f60718293a4"), "_id.$in[1]: malformed id"},
		{"id of wrong type", taskstate.Query{}.Where("_id", taskstate.OpEq, 12), "malformed id"},
		{"unknown field", taskstate.Query{}.Where("def", taskstate.OpEq, "x"), "def: unknown field"},
		{"unknown operator", taskstate.Query{}.Where("status", taskstate.Op("$regex"), "w.*"), "unknown operator"},
		{"bad status", taskstate.Query{}.Where("status", taskstate.OpEq, "paused"), "unknown status"},
		{"empty path element", taskstate.Query{}.Where("filter.a..b", taskstate.OpEq, 1), "bad path element"},
		{"dollar in path", taskstate.Query{}.Where("filter.$where", taskstate.OpEq, 1), "bad path element"},
		{"$in without a list", taskstate.Query{}.Where("kind", taskstate.OpIn, "a"), "want a list"},
		{"unsupported value", taskstate.Query{}.Where("filter.t", taskstate.OpEq, time.Now()), "unsupported value type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := translateQuery(tt.q)
			require.ErrorIs(t, err, taskstate.ErrInvalidQuery)
			require.ErrorContains(t, err, tt.contains)
		})
	}
}

func TestClaimFilter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	q, err := translateQuery(taskstate.ByStatus(taskstate.StatusWaiting))
	require.NoError(t, err)
	got := claimFilter(taskstate.ClaimParams{From: taskstate.StatusWaiting, Kinds: []string{"noop"}, Now: now}, q)
	require.Equal(t, bson.D{
		{Key: "status", Value: "waiting"},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "run_after", Value: nil}},
			bson.D{{Key: "run_after", Value: op("$lte", now)}},
		}},
		{Key: "kind", Value: op("$in", []string{"noop"})},
		// The query is nested so that its own status condition cannot
		// replace the claim's.
		{Key: "$and", Value: bson.A{q}},
	}, got)
}

func TestTransitionUpdate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	later := now.Add(time.Minute)
	got := transitionUpdate(now, taskstate.Transition{To: taskstate.StatusWaiting, SetError: true, LastError: "boom", Delay: later.Sub(now), UndoAttempt: true})
	require.Equal(t, bson.D{
		{Key: "$set", Value: bson.D{{Key: "status", Value: "waiting"}, {Key: "updated_at", Value: now}, {Key: "last_error", Value: "boom"}, {Key: "run_after", Value: later}}},
		{Key: "$unset", Value: bson.D{{Key: "lease", Value: ""}, {Key: "claimed_from", Value: ""}}},
		{Key: "$inc", Value: bson.D{{Key: "attempts", Value: -1}}},
	}, got)

	got = transitionUpdate(now, taskstate.Transition{To: taskstate.StatusDone, SetRes: true, Res: []byte{1}})
	require.Equal(t, bson.D{
		{Key: "$set", Value: bson.D{{Key: "status", Value: "done"}, {Key: "updated_at", Value: now},
			{Key: "res", Value: bson.Binary{Data: []byte{1}}}, {Key: "finished_at", Value: now}}},
		{Key: "$unset", Value: bson.D{{Key: "lease", Value: ""}, {Key: "claimed_from", Value: ""}, {Key: "run_after", Value: ""}}},
	}, got)
}

func TestFilterRoundTrip(t *testing.T) {
	t.Parallel()
	in := map[string]any{"model": map[string]any{"class": "LGBModel", "kwargs": map[string]any{"lr": 0.1, "depth": 8.0}}, "seg": []any{"2020", nil, true}}
	b, err := bson.Marshal(bson.D{{Key: "filter", Value: toBSON(in)}})
	require.NoError(t, err)
	out, err := rawToMap(bson.Raw(b).Lookup("filter").Document())
	require.NoError(t, err)
	require.Equal(t, in, out)

	// Integers written by another program read back as float64, the JSON shape.
	b, err = bson.Marshal(bson.D{{Key: "n", Value: int32(3)}, {Key: "m", Value: int64(4)}})
	require.NoError(t, err)
	out, err = rawToMap(b)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"n": 3.0, "m": 4.0}, out)
}

func TestNextSeqsIncreases(t *testing.T) {
	t.Parallel()
	frozen := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := nextSeqs(frozen, 10)
	b := nextSeqs(frozen, 1)
	c := nextSeqs(frozen.Add(-time.Hour), 1)
	require.Greater(t, b, a+9)
	require.Greater(t, c, b)
}
