package mongostore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func TestIsFerretDB(t *testing.T) {
	t.Parallel()
	s := openTestStore(t)
	ferret, err := s.IsFerretDB(t.Context())
	require.NoError(t, err)
	again, err := s.IsFerretDB(t.Context())
	require.NoError(t, err)
	require.Equal(t, ferret, again)
	t.Logf("server is FerretDB: %v", ferret)
}

func TestIndexes(t *testing.T) {
	t.Parallel()
	s := openTestStore(t)
	ctx := t.Context()
	_, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "ix", Tasks: newTasks("a", 2), Now: time.Now()})
	require.NoError(t, err)
	_, indexed := s.indexed.Load("ix")
	require.True(t, indexed, "indexes are cached after the first create")

	cur, err := s.Database().Collection("ix").Indexes().List(ctx)
	require.NoError(t, err)
	var specs []struct {
		Name   string `bson:"name"`
		Key    bson.D `bson:"key"`
		Unique bool   `bson:"unique"`
	}
	require.NoError(t, cur.All(ctx, &specs))
	byName := map[string]bson.D{}
	unique := map[string]bool{}
	for _, sp := range specs {
		byName[sp.Name] = sp.Key
		unique[sp.Name] = sp.Unique
	}
	require.Equal(t, bson.D{{Key: "key", Value: int32(1)}}, byName["key_1"])
	require.True(t, unique["key_1"], "key index is unique")
	require.Equal(t, bson.D{{Key: "status", Value: int32(1)}, {Key: "priority", Value: int32(-1)}, {Key: "seq", Value: int32(1)}}, byName["status_1_priority_-1_seq_1"])
	require.Equal(t, bson.D{{Key: "status", Value: int32(1)}, {Key: "lease.until", Value: int32(1)}}, byName["status_1_lease.until_1"])
	require.Equal(t, bson.D{{Key: "seq", Value: int32(1)}}, byName["seq_1"])
	require.Equal(t, bson.D{{Key: "status", Value: int32(1)}, {Key: "kind", Value: int32(1)}, {Key: "priority", Value: int32(-1)}, {Key: "seq", Value: int32(1)}}, byName["status_1_kind_1_priority_-1_seq_1"])
	require.Equal(t, bson.D{{Key: "status", Value: int32(1)}, {Key: "seq", Value: int32(1)}}, byName["status_1_seq_1"])
	require.Len(t, specs, 7, "_id and the six of the pool")

	// A second Store creates them again without complaint (the server
	// treats an identical index as existing).
	s2, err := Open(ctx, Config{URI: testURI(t), Database: s.Database().Name()})
	require.NoError(t, err)
	defer s2.Close()
	_, err = s2.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "ix", Tasks: newTasks("b", 1), Now: time.Now()})
	require.NoError(t, err)

	// A dry run and a claim on an unknown pool create no collection.
	_, err = s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "dry", Tasks: newTasks("c", 1), Now: time.Now(), DryRun: true})
	require.NoError(t, err)
	_, err = s.Claim(ctx, taskstate.ClaimParams{Pool: "nothing", From: taskstate.StatusWaiting, Token: "t", Owner: "o", Now: time.Now(), Lease: time.Minute, Limit: 1})
	require.NoError(t, err)
	pools, err := s.ListPools(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"ix"}, pools)

	// Only the missing indexes are created next to existing ones.
	_, err = s.Database().Collection("partial").Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: "seq", Value: 1}}, Options: options.Index().SetName("seq_1"),
	})
	require.NoError(t, err)
	_, err = s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "partial", Tasks: newTasks("p", 1), Now: time.Now()})
	require.NoError(t, err)
	missing, err := s.missingIndexes(ctx, "partial", s.Database().Collection("partial"))
	require.NoError(t, err)
	require.Empty(t, missing)

	// A key index that is not unique would break idempotent creates.
	_, err = s.Database().Collection("legacy").Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: "key", Value: 1}}, Options: options.Index().SetName("key_1"),
	})
	require.NoError(t, err)
	_, err = s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "legacy", Tasks: newTasks("l", 1), Now: time.Now()})
	require.ErrorContains(t, err, "key_1 exists but is not unique")
}

// TestCreateConcurrentDuplicates races creators of the same keys, through
// two Stores: one document per key survives, every creator gets its id and
// exactly one creator reports each key as created.
func TestCreateConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	s1 := openTestStore(t)
	s2, err := Open(t.Context(), Config{URI: testURI(t), Database: s1.Database().Name()})
	require.NoError(t, err)
	defer s2.Close()
	ctx := t.Context()

	const creators, keys = 6, 40
	base := newTasks("dup", keys)
	results := make([][]taskstate.CreatedTask, creators)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for c := range creators {
		tasks := slices.Clone(base)
		for i := range tasks {
			tasks[i].ID = taskstate.NewID() // every creator brings its own ids
		}
		// Some creators see the keys in another order.
		if c%2 == 1 {
			slices.Reverse(tasks)
		}
		store := s1
		if c%3 == 0 {
			store = s2
		}
		wg.Go(func() {
			<-start
			out, err := store.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "dup", Tasks: tasks, Now: time.Now()})
			if c%2 == 1 {
				slices.Reverse(out)
			}
			results[c] = out
			require.NoError(t, err)
		})
	}
	close(start)
	wg.Wait()

	n, err := s1.Database().Collection("dup").CountDocuments(ctx, bson.D{})
	require.NoError(t, err)
	require.EqualValues(t, keys, n)
	for i := range keys {
		created := 0
		for c := range creators {
			require.Len(t, results[c], keys)
			require.Equal(t, results[0][i].ID, results[c][i].ID, "key %d: creators disagree on the id", i)
			if results[c][i].Created {
				created++
			}
		}
		require.Equal(t, 1, created, "key %d: exactly one creator inserts it", i)
		got, err := s1.Get(ctx, taskstate.GetParams{Pool: "dup", ID: results[0][i].ID})
		require.NoError(t, err)
		require.Equal(t, base[i].Key, got.Key)
	}

	// A later create of known and new keys.
	more := append(newTasks("dup", 2), newTasks("fresh", 1)...)
	out, err := s1.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "dup", Tasks: more, Now: time.Now()})
	require.NoError(t, err)
	require.Equal(t, []taskstate.CreatedTask{
		{ID: results[0][0].ID}, {ID: results[0][1].ID}, {ID: more[2].ID, Created: true},
	}, out)
}

func TestCreateDryRun(t *testing.T) {
	t.Parallel()
	s := openTestStore(t)
	ctx := t.Context()
	tasks := newTasks("d", 3)
	out, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "dry", Tasks: tasks[:1], Now: time.Now()})
	require.NoError(t, err)
	existing := out[0].ID

	out, err = s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "dry", Tasks: tasks, Now: time.Now(), DryRun: true})
	require.NoError(t, err)
	require.Equal(t, []taskstate.CreatedTask{{ID: existing}, {Created: true}, {Created: true}}, out)
	c, err := s.Stat(ctx, taskstate.StatParams{Pool: "dry"})
	require.NoError(t, err)
	require.Equal(t, 1, c.Total(), "a dry run writes nothing")
}

func TestCreateRejectsMalformedID(t *testing.T) {
	t.Parallel()
	s := openTestStore(t)
	tasks := newTasks("m", 1)
	tasks[0].ID = "xyz"
	_, err := s.CreateTasks(t.Context(), taskstate.CreateTasksParams{Pool: "m", Tasks: tasks, Now: time.Now()})
	require.ErrorIs(t, err, taskstate.ErrInvalidTask)
	_, err = s.CreateTasks(t.Context(), taskstate.CreateTasksParams{Pool: "bad pool", Tasks: newTasks("m", 1), Now: time.Now()})
	require.ErrorIs(t, err, taskstate.ErrInvalidPool)
}

// TestStoredDocument checks the stored field names and types, which other
// tools (and Qlib users) read directly.
func TestStoredDocument(t *testing.T) {
	t.Parallel()
	s := openTestStore(t)
	ctx := t.Context()
	now := time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.UTC)
	tasks := newTasks("doc", 1)
	tasks[0].Filter = map[string]any{"model": map[string]any{"kwargs": map[string]any{"lr": 0.1}, "class": "LGBModel"}, "seg": []any{"2020", "2021"}}
	tasks[0].Priority = 7
	_, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "doc", Tasks: tasks, Now: now})
	require.NoError(t, err)

	var raw bson.Raw
	require.NoError(t, s.Database().Collection("doc").FindOne(ctx, bson.D{}).Decode(&raw))
	id := raw.Lookup("_id").ObjectID()
	require.Equal(t, tasks[0].ID, id.Hex())
	require.Equal(t, "waiting", raw.Lookup("status").StringValue())
	require.Equal(t, "noop", raw.Lookup("kind").StringValue())
	require.Equal(t, tasks[0].Key, raw.Lookup("key").StringValue())
	require.EqualValues(t, 7, raw.Lookup("priority").AsInt64())
	require.EqualValues(t, 0, raw.Lookup("attempts").AsInt64())
	require.EqualValues(t, 3, raw.Lookup("max_attempts").AsInt64())
	_, def := raw.Lookup("def").Binary()
	require.Equal(t, []byte{0}, def)
	require.Equal(t, bson.TypeInt64, raw.Lookup("seq").Type)
	require.Equal(t, now.Truncate(time.Millisecond), raw.Lookup("created_at").Time().UTC())
	// The filter is stored with its keys sorted, at every level.
	keys := func(r bson.Raw) []string {
		els, err := r.Elements()
		require.NoError(t, err)
		var ks []string
		for _, e := range els {
			ks = append(ks, e.Key())
		}
		return ks
	}
	require.Equal(t, []string{"model", "seg"}, keys(raw.Lookup("filter").Document()))
	require.Equal(t, []string{"class", "kwargs"}, keys(raw.Lookup("filter", "model").Document()))

	got, err := s.Get(ctx, taskstate.GetParams{Pool: "doc", ID: tasks[0].ID, Payloads: true})
	require.NoError(t, err)
	require.Equal(t, tasks[0].Filter, got.Filter)
	require.Equal(t, []byte{0}, got.Def)
	require.Equal(t, 7, got.Priority)
	require.Equal(t, now.Truncate(time.Millisecond), got.CreatedAt, "BSON dates hold milliseconds, read back in UTC")
	require.Equal(t, time.UTC, got.CreatedAt.Location())
}

// TestQueryOnServer runs translated queries, dotted filter paths included,
// against the server.
func TestQueryOnServer(t *testing.T) {
	t.Parallel()
	s := openTestStore(t)
	ctx := t.Context()
	var tasks []taskstate.NewTask
	for i, class := range []string{"A", "B", "A", "C"} {
		filter := map[string]any{"model": map[string]any{"class": class, "depth": float64(i)}, "i": float64(i)}
		if i == 3 {
			delete(filter["model"].(map[string]any), "depth")
		}
		tasks = append(tasks, taskstate.NewTask{ID: taskstate.NewID(), Kind: fmt.Sprintf("k%d", i%2), Key: fmt.Sprintf("key%d", i), Def: []byte("d"), Filter: filter, Priority: i})
	}
	_, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "q", Tasks: tasks, Now: time.Now()})
	require.NoError(t, err)

	ids := func(q string) []string {
		t.Helper()
		query, err := taskstate.ParseQueryJSON(q)
		require.NoError(t, err)
		var out []string
		for task, err := range s.Query(ctx, taskstate.QueryParams{Pool: "q", Query: query}) {
			require.NoError(t, err)
			require.Nil(t, task.Def, "no payloads unless asked")
			out = append(out, task.Key)
		}
		return out
	}
	require.Equal(t, []string{"key0", "key1", "key2", "key3"}, ids(``))
	require.Equal(t, []string{"key0", "key2"}, ids(`{"filter.model.class": "A"}`))
	require.Equal(t, []string{"key1", "key3"}, ids(`{"filter.model.class": {"$in": ["B", "C"]}}`))
	require.Equal(t, []string{"key0", "key1", "key2"}, ids(`{"filter.model.class": {"$nin": ["C"]}}`))
	require.Equal(t, []string{"key2"}, ids(`{"filter.model.depth": {"$gt": 1, "$lte": 2.5}}`))
	require.Equal(t, []string{"key3"}, ids(`{"filter.model.depth": {"$exists": false}}`))
	require.Equal(t, []string{"key1", "key3"}, ids(`{"kind": "k1"}`))
	require.Equal(t, []string{"key2", "key3"}, ids(`{"priority": {"$gte": 2}}`))
	require.Equal(t, []string{"key1"}, ids(`{"filter": {"i": 1, "model": {"class": "B", "depth": 1}}}`))
	require.Equal(t, []string{"key0", "key2", "key3"}, ids(`{"filter.model.class": {"$ne": "B"}, "status": "waiting"}`))
	var first string
	for task, err := range s.Query(ctx, taskstate.QueryParams{Pool: "q", Limit: 1, Payloads: true}) {
		require.NoError(t, err)
		require.Equal(t, []byte("d"), task.Def)
		first = task.ID
	}
	require.Equal(t, []string{"key0"}, ids(fmt.Sprintf(`{"_id": %q}`, first)))

	// Stopping early closes the cursor (checked by the race detector and
	// the server, which would otherwise keep it).
	for _, err := range s.Query(ctx, taskstate.QueryParams{Pool: "q"}) {
		require.NoError(t, err)
		break
	}
	// An invalid query reaches the consumer as an error.
	for task, err := range s.Query(ctx, taskstate.QueryParams{Pool: "q", Query: taskstate.Query{}.Where("_id", taskstate.OpEq, "zz")}) {
		require.Nil(t, task)
		require.ErrorIs(t, err, taskstate.ErrInvalidQuery)
	}
}

// TestLifecycle walks a task through claim, heartbeat, fenced finish,
// reaping and the admin operations.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	s := openTestStore(t)
	ctx := t.Context()
	const pool = "life"
	now := time.Now().UTC().Truncate(time.Millisecond)
	tasks := newTasks("life", 4)
	tasks[2].Priority = 5 // claimed first
	tasks[3].Kind = "other"
	_, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: pool, Tasks: tasks, Now: now})
	require.NoError(t, err)

	claim := func(token string, limit int, kinds ...string) []*taskstate.Task {
		t.Helper()
		got, err := s.Claim(ctx, taskstate.ClaimParams{Pool: pool, From: taskstate.StatusWaiting, Kinds: kinds, Owner: "w1", Token: token,
			Now: now, Lease: time.Minute, Limit: limit})
		require.NoError(t, err)
		return got
	}
	got := claim("tok1", 2, "noop")
	require.Len(t, got, 2)
	require.Equal(t, tasks[2].ID, got[0].ID, "highest priority first")
	require.Equal(t, tasks[0].ID, got[1].ID, "then creation order")
	for _, task := range got {
		require.Equal(t, taskstate.StatusRunning, task.Status)
		require.Equal(t, taskstate.StatusWaiting, task.ClaimedFrom)
		require.Equal(t, taskstate.Lease{Owner: "w1", Token: "tok1", Until: now.Add(time.Minute)}, task.Lease)
		require.Equal(t, 1, task.Attempts)
		require.Equal(t, now, task.StartedAt)
		require.NotNil(t, task.Def, "claims carry payloads")
	}

	// Heartbeat: the two held leases are extended, a wrong token and an
	// unknown id are lost.
	lost, err := s.Heartbeat(ctx, taskstate.HeartbeatParams{Pool: pool, Now: now, Lease: 2 * time.Minute, Leases: []taskstate.LeaseRef{
		got[0].Ref(), got[1].Ref(), {ID: tasks[1].ID, Token: "tok1"}, {ID: "nothex", Token: "tok1"}, {ID: got[0].ID, Token: "stale"},
	}})
	require.NoError(t, err)
	require.Equal(t, []string{tasks[1].ID, "nothex", got[0].ID}, lost)
	fresh, err := s.Get(ctx, taskstate.GetParams{Pool: pool, ID: got[0].ID})
	require.NoError(t, err)
	require.Equal(t, now.Add(2*time.Minute), fresh.Lease.Until)

	// A second claim with another token takes the rest of kind noop, then
	// nothing is left of that kind.
	got2 := claim("tok2", 5, "noop")
	require.Len(t, got2, 1)
	require.Equal(t, tasks[1].ID, got2[0].ID)
	require.Empty(t, claim("tok3", 5, "noop"))

	// Heartbeat with two tokens in one write.
	lost, err = s.Heartbeat(ctx, taskstate.HeartbeatParams{Pool: pool, Now: now, Lease: 3 * time.Minute, Leases: []taskstate.LeaseRef{got[0].Ref(), got2[0].Ref()}})
	require.NoError(t, err)
	require.Empty(t, lost)

	// Finish: commit one, return one with a backoff and the attempt given
	// back, and a stale token changes nothing.
	later := now.Add(time.Hour)
	applied, err := s.Finish(ctx, taskstate.FinishParams{Pool: pool, Now: now, Items: []taskstate.Transition{
		{ID: got[0].ID, Token: "tok1", To: taskstate.StatusDone, SetRes: true, Res: []byte("res")},
		{ID: got[1].ID, Token: "wrong", To: taskstate.StatusDone, SetRes: true, Res: []byte("zombie")},
		{ID: got2[0].ID, Token: "tok2", To: taskstate.StatusWaiting, SetError: true, LastError: "boom", Delay: later.Sub(now), UndoAttempt: true},
		{ID: "nothex", Token: "tok1", To: taskstate.StatusDone},
	}})
	require.NoError(t, err)
	require.Equal(t, []bool{true, false, true, false}, applied)
	done, err := s.Get(ctx, taskstate.GetParams{Pool: pool, ID: got[0].ID, Payloads: true})
	require.NoError(t, err)
	require.Equal(t, taskstate.StatusDone, done.Status)
	require.Equal(t, []byte("res"), done.Res)
	require.Equal(t, taskstate.Lease{}, done.Lease)
	require.Empty(t, done.ClaimedFrom)
	require.Equal(t, now, done.FinishedAt)
	returned, err := s.Get(ctx, taskstate.GetParams{Pool: pool, ID: got2[0].ID})
	require.NoError(t, err)
	require.Equal(t, taskstate.StatusWaiting, returned.Status)
	require.Equal(t, 0, returned.Attempts)
	require.Equal(t, "boom", returned.LastError)
	require.Equal(t, later, returned.RunAfter)
	require.True(t, returned.FinishedAt.IsZero())
	// Finishing twice is refused: the lease is gone.
	applied, err = s.Finish(ctx, taskstate.FinishParams{Pool: pool, Now: now, Items: []taskstate.Transition{{ID: got[0].ID, Token: "tok1", To: taskstate.StatusFailed}}})
	require.NoError(t, err)
	require.Equal(t, []bool{false}, applied)
	_, err = s.Finish(ctx, taskstate.FinishParams{Pool: pool, Now: now, Items: []taskstate.Transition{{ID: got[1].ID, Token: "tok1", To: taskstate.StatusRunning}}})
	require.ErrorIs(t, err, taskstate.ErrInvalidTransition)

	// The returned task is not claimable before run_after.
	require.Empty(t, claim("tok4", 5, "noop"))
	got4, err := s.Claim(ctx, taskstate.ClaimParams{Pool: pool, From: taskstate.StatusWaiting, Kinds: []string{"noop"}, Owner: "w2", Token: "tok4",
		Now: later, Lease: time.Minute, Limit: 5})
	require.NoError(t, err)
	require.Len(t, got4, 1)
	require.Equal(t, got2[0].ID, got4[0].ID)

	// ListExpired: got[1] (lease until now+3m) and got4 (later+1m).
	exp, err := s.ListExpired(ctx, taskstate.ListExpiredParams{Pool: pool, Now: now.Add(4 * time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Len(t, exp, 1)
	require.Equal(t, got[1].ID, exp[0].ID)
	require.Nil(t, exp[0].Def)
	require.Equal(t, "tok1", exp[0].Lease.Token)
	exp, err = s.ListExpired(ctx, taskstate.ListExpiredParams{Pool: pool, Now: later.Add(time.Hour)})
	require.NoError(t, err)
	require.Equal(t, []string{got[1].ID, got4[0].ID}, []string{exp[0].ID, exp[1].ID}, "oldest lease first")
	exp, err = s.ListExpired(ctx, taskstate.ListExpiredParams{Pool: pool, Now: later.Add(time.Hour), Limit: 1})
	require.NoError(t, err)
	require.Len(t, exp, 1)

	// Stat.
	counts, err := s.Stat(ctx, taskstate.StatParams{Pool: pool})
	require.NoError(t, err)
	require.Equal(t, taskstate.Counts{taskstate.StatusWaiting: 1, taskstate.StatusRunning: 2, taskstate.StatusPartDone: 0, taskstate.StatusDone: 1, taskstate.StatusFailed: 0}, counts)
	counts, err = s.Stat(ctx, taskstate.StatParams{Pool: pool, Query: taskstate.Query{}.Where("kind", taskstate.OpEq, "other")})
	require.NoError(t, err)
	require.Equal(t, 1, counts[taskstate.StatusWaiting])
	require.Equal(t, 1, counts.Total())

	// Admin reset of the running tasks fences out their workers.
	n, err := s.Update(ctx, taskstate.UpdateParams{Pool: pool, Query: taskstate.ByStatus(taskstate.StatusRunning), Now: now, Status: taskstate.StatusWaiting})
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
	applied, err = s.Finish(ctx, taskstate.FinishParams{Pool: pool, Now: now, Items: []taskstate.Transition{{ID: got4[0].ID, Token: "tok4", To: taskstate.StatusDone}}})
	require.NoError(t, err)
	require.Equal(t, []bool{false}, applied)
	reset, err := s.Get(ctx, taskstate.GetParams{Pool: pool, ID: got4[0].ID})
	require.NoError(t, err)
	require.Equal(t, taskstate.StatusWaiting, reset.Status)
	require.Equal(t, taskstate.Lease{}, reset.Lease)
	require.True(t, reset.RunAfter.IsZero())
	require.Equal(t, "boom", reset.LastError)

	// Retry-style update and prioritize.
	prio := 9
	n, err = s.Update(ctx, taskstate.UpdateParams{Pool: pool, Query: taskstate.ByIDs(got4[0].ID), Now: now, ResetAttempts: true, Priority: &prio})
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	reset, err = s.Get(ctx, taskstate.GetParams{Pool: pool, ID: got4[0].ID})
	require.NoError(t, err)
	require.Equal(t, 0, reset.Attempts)
	require.Empty(t, reset.LastError)
	require.Equal(t, 9, reset.Priority)

	// Claim with a query, from part_done, and the empty result.
	got5, err := s.Claim(ctx, taskstate.ClaimParams{Pool: pool, From: taskstate.StatusWaiting, Owner: "w", Token: "tok5", Now: later, Lease: time.Minute, Limit: 10,
		Query: taskstate.Query{}.Where("filter.name", taskstate.OpIn, []any{"life-3"}).Where("status", taskstate.OpEq, "done")})
	require.NoError(t, err)
	require.Empty(t, got5, "the query cannot widen the claim's own status")
	got5, err = s.Claim(ctx, taskstate.ClaimParams{Pool: pool, From: taskstate.StatusWaiting, Owner: "w", Token: "tok5", Now: later, Lease: time.Minute, Limit: 10,
		Query: taskstate.Query{}.Where("filter.name", taskstate.OpIn, []any{"life-3"})})
	require.NoError(t, err)
	require.Len(t, got5, 1)
	require.Equal(t, tasks[3].ID, got5[0].ID)
	applied, err = s.Finish(ctx, taskstate.FinishParams{Pool: pool, Now: now, Items: []taskstate.Transition{{ID: got5[0].ID, Token: "tok5", To: taskstate.StatusPartDone, SetRes: true, Res: []byte("p1")}}})
	require.NoError(t, err)
	require.Equal(t, []bool{true}, applied)
	got6, err := s.Claim(ctx, taskstate.ClaimParams{Pool: pool, From: taskstate.StatusPartDone, Owner: "w", Token: "tok6", Now: later, Lease: time.Minute, Limit: 10})
	require.NoError(t, err)
	require.Len(t, got6, 1)
	require.Equal(t, taskstate.StatusPartDone, got6[0].ClaimedFrom)
	require.Equal(t, []byte("p1"), got6[0].Res)
	require.Equal(t, 1, got6[0].Attempts, "attempts are counted per phase")
	_, err = s.Claim(ctx, taskstate.ClaimParams{Pool: pool, From: taskstate.StatusDone, Token: "x", Limit: 1})
	require.ErrorIs(t, err, taskstate.ErrInvalidStatus)

	// Get of a missing or malformed id.
	_, err = s.Get(ctx, taskstate.GetParams{Pool: pool, ID: taskstate.NewID()})
	require.ErrorIs(t, err, taskstate.ErrNotFound)
	_, err = s.Get(ctx, taskstate.GetParams{Pool: pool, ID: "xyz"})
	require.ErrorIs(t, err, taskstate.ErrNotFound)

	// Delete.
	n, err = s.Delete(ctx, taskstate.DeleteParams{Pool: pool, Query: taskstate.ByStatus(taskstate.StatusDone)})
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	n, err = s.Delete(ctx, taskstate.DeleteParams{Pool: pool})
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	counts, err = s.Stat(ctx, taskstate.StatParams{Pool: pool})
	require.NoError(t, err)
	require.Equal(t, taskstate.NewCounts(), counts)
}

// TestManagerOnMongo runs the Manager on this backend end to end.
func TestManagerOnMongo(t *testing.T) {
	t.Parallel()
	s := openTestStore(t)
	ctx := t.Context()
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "mgr"})
	require.NoError(t, err)
	specs := []taskstate.TaskSpec{
		{Kind: "noop", Def: map[string]any{"model": "A", "n": 1}},
		{Kind: "noop", Def: map[string]any{"model": "B", "n": 2}},
		{Kind: "noop", Def: map[string]any{"n": 1, "model": "A"}}, // same as the first
	}
	res, err := m.Create(ctx, specs, taskstate.CreateOptions{})
	require.NoError(t, err)
	require.Equal(t, 2, res.NewCount)
	require.Equal(t, res.IDs[0], res.IDs[2])
	for {
		ran, err := m.RunOne(ctx, taskstate.ClaimOptions{}, taskstate.StatusDone, func(_ context.Context, _ *taskstate.Task, param any) (any, error) {
			return param.(map[string]any)["model"], nil
		})
		require.NoError(t, err)
		if !ran {
			break
		}
	}
	counts, err := m.Stat(ctx, taskstate.Query{})
	require.NoError(t, err)
	require.Equal(t, 2, counts[taskstate.StatusDone])
	got, err := m.Get(ctx, res.IDs[1])
	require.NoError(t, err)
	v, err := m.DecodeRes(got)
	require.NoError(t, err)
	require.Equal(t, "B", v)
	pools, err := m.ListPools(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"mgr"}, pools)
}
