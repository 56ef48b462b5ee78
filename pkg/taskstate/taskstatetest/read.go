package taskstatetest

import (
	"context"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

var readCases = []Case{
	{Group: "Get", Name: "NotFoundAndPayloads", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		nt := task("noop", 0)
		id := f.create(nt)[0]
		for _, missing := range []string{taskstate.NewID(), "xyz", ""} {
			_, err := s.Get(ctx, taskstate.GetParams{Pool: f.pool, ID: missing})
			require.ErrorIs(t, err, taskstate.ErrNotFound, "id %q", missing)
		}
		_, err := s.Get(ctx, taskstate.GetParams{Pool: "pool_other", ID: id})
		require.ErrorIs(t, err, taskstate.ErrNotFound, "a task is found in its own pool only")
		bare, err := s.Get(ctx, taskstate.GetParams{Pool: f.pool, ID: id})
		require.NoError(t, err)
		require.Nil(t, bare.Def)
		require.Equal(t, nt.Filter, bare.Filter)
		require.Equal(t, nt.Def, f.get(id).Def)
	}},

	{Group: "Query", Name: "CreationOrderPayloadsAndLimit", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		in := tasks(0, 5)
		in[3].Priority = 9 // priority orders claims, not queries
		ids := f.create(in...)
		task := f.claimOne()
		require.Equal(t, []bool{true}, f.finish(commit(task, "r")))
		bare := f.query(taskstate.QueryParams{})
		require.Equal(t, ids, taskIDs(bare))
		for _, task := range bare {
			require.Nil(t, task.Def)
			require.Nil(t, task.Res)
			require.NotEmpty(t, task.Filter)
		}
		full := f.query(taskstate.QueryParams{Payloads: true})
		require.Equal(t, ids, taskIDs(full))
		for i, task := range full {
			require.Equal(t, in[i].Def, task.Def)
		}
		require.Equal(t, []byte("r"), full[3].Res)
		require.Equal(t, pick(ids, 0, 1), taskIDs(f.query(taskstate.QueryParams{Limit: 2})))
		// A stream abandoned early leaves the store usable.
		for _, err := range s.Query(ctx, taskstate.QueryParams{Pool: f.pool}) {
			require.NoError(t, err)
			break
		}
		require.Equal(t, counts(4, 0, 0, 1, 0), f.stat(taskstate.Query{}))
	}},

	{Group: "Query", Name: "Filters", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		in := []taskstate.NewTask{task("linear", 0), task("sleep", 1), task("linear", 2), task("sleep", 3)}
		in[2].Priority = 3
		ids := f.create(in...)
		f.claim(taskstate.ClaimParams{Limit: 1}) // ids[2], the highest priority
		w := taskstate.Query{}.Where
		require.Equal(t, pick(ids, 1, 3), f.ids(w(taskstate.FieldKind, taskstate.OpEq, "sleep")))
		require.Equal(t, pick(ids, 2), f.ids(taskstate.ByStatus(taskstate.StatusRunning)))
		require.Equal(t, pick(ids, 0, 1, 3), f.ids(w(taskstate.FieldStatus, taskstate.OpNe, "running")))
		require.Equal(t, pick(ids, 1, 3), f.ids(taskstate.ByIDs(ids[3], ids[1])))
		require.Equal(t, pick(ids, 2), f.ids(w(taskstate.FieldPriority, taskstate.OpGt, 0)))
		require.Equal(t, pick(ids, 1, 2), f.ids(w("filter.i", taskstate.OpGte, 1).Where("filter.i", taskstate.OpLt, 3)))
		require.Equal(t, pick(ids, 0, 3), f.ids(w("filter.name", taskstate.OpIn, []any{"t0", "t3"})))
		require.Equal(t, pick(ids, 1, 3), f.ids(w(taskstate.FieldKind, taskstate.OpEq, "sleep").Where("filter.i", taskstate.OpExists, true)))
		require.Empty(t, f.ids(w("filter.missing", taskstate.OpExists, true)))
	}},

	{Group: "Stat", Name: "EveryStatusAndFilters", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		empty := f.stat(taskstate.Query{})
		require.Equal(t, counts(0, 0, 0, 0, 0), empty, "every status is present, zeros included")
		require.Len(t, empty, len(taskstate.Statuses))
		f.create(tasks(0, 5)...)
		f.create(task("sleep", 9))
		held := f.claim(taskstate.ClaimParams{Limit: 4})
		f.finish(commit(held[0], "r"),
			taskstate.Transition{ID: held[1].ID, Token: held[1].Lease.Token, To: taskstate.StatusPartDone, SetRes: true},
			taskstate.Transition{ID: held[2].ID, Token: held[2].Lease.Token, To: taskstate.StatusFailed})
		require.Equal(t, counts(2, 1, 1, 1, 1), f.stat(taskstate.Query{}))
		require.Equal(t, counts(1, 0, 0, 0, 0), f.stat(taskstate.Query{}.Where(taskstate.FieldKind, taskstate.OpEq, "sleep")))
		require.Equal(t, counts(0, 1, 1, 1, 1), f.stat(taskstate.Query{}.Where("filter.i", taskstate.OpLt, 4)))
	}},

	{Group: "CountKinds", Name: "ByKindStatusAndLimit", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		count := func(q taskstate.Query, limit int) (map[string]int, bool) {
			kinds, all, err := s.CountKinds(ctx, taskstate.CountKindsParams{Pool: f.pool, Query: q, Limit: limit})
			require.NoError(t, err)
			return kinds, all
		}
		kinds, all := count(taskstate.Query{}, 10)
		require.Empty(t, kinds)
		require.True(t, all)
		f.create(tasks(0, 3)...)
		f.create(task("sleep", 7), task("sleep", 8), task("train", 9))
		held := f.claim(taskstate.ClaimParams{Kinds: []string{"sleep"}, Limit: 1})
		f.finish(taskstate.Transition{ID: held[0].ID, Token: held[0].Lease.Token, To: taskstate.StatusFailed})

		kinds, all = count(taskstate.Query{}, 10)
		require.Equal(t, map[string]int{"noop": 3, "sleep": 2, "train": 1}, kinds)
		require.True(t, all)
		kinds, all = count(taskstate.ByStatus(taskstate.StatusWaiting), 10)
		require.Equal(t, map[string]int{"noop": 3, "sleep": 1, "train": 1}, kinds, "one status")
		require.True(t, all)
		kinds, all = count(taskstate.ByStatus(taskstate.StatusFailed), 10)
		require.Equal(t, map[string]int{"sleep": 1}, kinds)
		require.True(t, all)
		kinds, all = count(taskstate.Query{}.Where("filter.i", taskstate.OpGte, 2), 10)
		require.Equal(t, map[string]int{"noop": 1, "sleep": 2, "train": 1}, kinds, "a filter")
		require.True(t, all)
		kinds, all = count(taskstate.Query{}, 6)
		require.Equal(t, map[string]int{"noop": 3, "sleep": 2, "train": 1}, kinds, "exactly Limit is all")
		require.True(t, all)
		kinds, all = count(taskstate.Query{}, 4)
		require.False(t, all, "more than Limit match")
		n := 0
		for k, c := range kinds {
			require.Contains(t, []string{"noop", "sleep", "train"}, k)
			require.Positive(t, c)
			n += c
		}
		require.Equal(t, 4, n, "Limit of them are counted")
		kinds, _, err := s.CountKinds(ctx, taskstate.CountKindsParams{Pool: "pool_b", Query: taskstate.Query{}, Limit: 10})
		require.NoError(t, err)
		require.Empty(t, kinds, "per pool")
	}},

	{Group: "ListPools", Name: "SortedAndIsolated", Run: func(ctx context.Context, t T, s taskstate.Store) {
		b := newFixture(ctx, t, s)
		b.pool = "pool_b"
		a := newFixture(ctx, t, s)
		pools, err := s.ListPools(ctx)
		require.NoError(t, err)
		require.Empty(t, pools)
		b.create(tasks(0, 3)...)
		idA := a.create(task("noop", 0))[0] // the same key in another pool is another task
		pools, err = s.ListPools(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{"pool_a", "pool_b"}, pools)
		require.Equal(t, counts(1, 0, 0, 0, 0), a.stat(taskstate.Query{}))
		require.Equal(t, counts(3, 0, 0, 0, 0), b.stat(taskstate.Query{}))
		require.Equal(t, []string{idA}, taskIDs(a.claim(taskstate.ClaimParams{Limit: 10})))
		require.Equal(t, counts(3, 0, 0, 0, 0), b.stat(taskstate.Query{}))
	}},
}
