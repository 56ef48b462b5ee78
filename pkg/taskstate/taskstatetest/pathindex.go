package taskstatetest

import (
	"context"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

var pathIndexCases = []Case{
	{Group: "PathIndex", Name: "SameMatchesWithAndWithoutIndex", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		// The values MongoDB tells apart: a string, its number, a
		// boolean, an array holding the string, an object, null, a
		// string that looks like an array, no value at all.
		classes := []any{"A", "B", 1.0, "1", true, []any{"B", "A"}, []any{2.0}, map[string]any{"x": "A"}, nil, "[A]"}
		var in []taskstate.NewTask
		for i, c := range append(classes, "A") {
			nt := task("noop", i)
			nt.Filter["model"] = map[string]any{"class": c}
			nt.Key = taskstate.Key("noop", nt.Filter)
			in = append(in, nt)
		}
		bare := task("noop", 99) // no model at all
		in = append(in, bare)
		f.create(in...)
		f.claimOne() // a running task among them

		const field = "filter.model.class"
		queries := []taskstate.Query{
			taskstate.Query{}.Where(field, taskstate.OpEq, "A"),
			taskstate.Query{}.Where(field, taskstate.OpEq, 1.0),
			taskstate.Query{}.Where(field, taskstate.OpEq, 2.0),
			taskstate.Query{}.Where(field, taskstate.OpEq, "1"),
			taskstate.Query{}.Where(field, taskstate.OpEq, "[A]"),
			taskstate.Query{}.Where(field, taskstate.OpEq, true),
			taskstate.Query{}.Where(field, taskstate.OpEq, nil),
			taskstate.Query{}.Where(field, taskstate.OpIn, []any{"B", 1.0}),
			taskstate.Query{}.Where(field, taskstate.OpIn, []any{}),
			taskstate.Query{}.Where(field, taskstate.OpNe, "A"),
			taskstate.Query{}.Where(field, taskstate.OpNin, []any{"A", 1.0}),
			taskstate.Query{}.Where(field, taskstate.OpGte, "B"),
			taskstate.Query{}.Where(field, taskstate.OpEq, "A").Where(taskstate.FieldStatus, taskstate.OpEq, "waiting"),
		}
		type seen struct {
			ids   []string
			stats taskstate.Counts
		}
		look := func() []seen {
			out := make([]seen, len(queries))
			for i, q := range queries {
				out[i] = seen{ids: f.ids(q), stats: f.stat(q)}
			}
			return out
		}
		before := look()
		require.Len(t, before[0].ids, 3, "A, [B A] and the second A")
		require.Len(t, before[2].ids, 1, "the array holding 2")

		got, err := s.PathIndexes(ctx, f.pool)
		require.NoError(t, err)
		require.Empty(t, got)
		require.NoError(t, s.CreatePathIndex(ctx, taskstate.PathIndexParams{Pool: f.pool, Field: field}))
		require.NoError(t, s.CreatePathIndex(ctx, taskstate.PathIndexParams{Pool: f.pool, Field: field}), "declared twice")
		got, err = s.PathIndexes(ctx, f.pool)
		require.NoError(t, err)
		require.Equal(t, []string{field}, got)
		got, err = s.PathIndexes(ctx, "pool_other")
		require.NoError(t, err)
		require.Empty(t, got, "indexes are per pool")

		after := look()
		for i := range queries {
			require.Equal(t, before[i], after[i], "query %d: %v", i, queries[i].Conds)
		}
		// Tasks created after the index are found through it.
		late := task("noop", 100)
		late.Filter["model"] = map[string]any{"class": "A"}
		late.Key = taskstate.Key("noop", late.Filter)
		f.create(late)
		require.Len(t, f.ids(queries[0]), 4)
		// Admin changes go through the index too.
		prio := 5
		require.Equal(t, int64(4), f.update(taskstate.UpdateParams{Query: queries[0], Priority: &prio}))
		n, err := s.Delete(ctx, taskstate.DeleteParams{Pool: f.pool, Query: queries[7]})
		require.NoError(t, err)
		require.Equal(t, int64(len(before[7].ids)), n)
		require.Equal(t, f.scan(), f.stat(taskstate.Query{}), "the pool's counts stay right")
	}},

	{Group: "PathIndex", Name: "RefusesPathsItCannotIndex", Run: func(ctx context.Context, t T, s taskstate.Store) {
		for _, field := range []string{"status", "filter", "filter.a.0", "filter.a..b", `filter.a"b`} {
			err := s.CreatePathIndex(ctx, taskstate.PathIndexParams{Pool: "pool_a", Field: field})
			require.ErrorIs(t, err, taskstate.ErrInvalidQuery, "field %q", field)
		}
	}},
}
