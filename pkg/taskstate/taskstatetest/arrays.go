package taskstatetest

import (
	"context"
	"fmt"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// arrayDefs are the filters of most array cases, created in this order.
var arrayDefs = []map[string]any{
	{"tags": []any{"a", "b"}, "n": []any{1.0, 5.0}}, // 0
	{"tags": []any{"b", "c"}, "n": 3.0},             // 1
	{"tags": "a"},                                   // 2: a scalar
	{},                                              // 3: no tags
	{"tags": []any{}},                               // 4
	{"tags": map[string]any{"0": "b"}},              // 5: a key that looks like an index
	{"tags": []any{"a", nil}},                       // 6
}

// createDefs creates one task per filter in defs, in order, and returns
// their ids.
func createDefs(f *fixture, defs []map[string]any) []string {
	in := make([]taskstate.NewTask, len(defs))
	for i, def := range defs {
		filter := map[string]any{"i": float64(i)} // a copy: cases run in parallel
		for k, v := range def {
			filter[k] = v
		}
		in[i] = taskstate.NewTask{
			ID: taskstate.NewID(), Kind: "noop", Key: taskstate.Key("noop", filter),
			Def: []byte(fmt.Sprint(i)), Filter: filter, MaxAttempts: 3,
		}
	}
	return f.create(in...)
}

// arrayCases check MongoDB's array semantics in queries over the def: a
// condition on an array holds when it holds on the whole array or on one of
// its elements, $ne and $nin hold when $eq and $in do not, and a numeric
// path component indexes an array.
var arrayCases = []Case{
	{Group: "Arrays", Name: "Equality", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := createDefs(f, arrayDefs)
		w := taskstate.Query{}.Where
		require.Equal(t, pick(ids, 0, 2, 6), f.ids(w("filter.tags", taskstate.OpEq, "a")), "an element equals")
		require.Equal(t, pick(ids, 0), f.ids(w("filter.tags", taskstate.OpEq, []any{"a", "b"})), "the whole array equals")
		require.Empty(t, f.ids(w("filter.tags", taskstate.OpEq, []any{"b", "a"})), "order matters")
		require.Equal(t, pick(ids, 4), f.ids(w("filter.tags", taskstate.OpEq, []any{})))
		require.Equal(t, pick(ids, 1, 3, 4, 5), f.ids(w("filter.tags", taskstate.OpNe, "a")), "no element equals; missing matches")
		require.Equal(t, pick(ids, 3, 6), f.ids(w("filter.tags", taskstate.OpEq, nil)), "missing, or a null element")
	}},

	{Group: "Arrays", Name: "InAndNin", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := createDefs(f, arrayDefs)
		w := taskstate.Query{}.Where
		require.Equal(t, pick(ids, 0, 1, 2, 6), f.ids(w("filter.tags", taskstate.OpIn, []any{"a", "c"})), "an element is in the list")
		require.Equal(t, pick(ids, 3, 4, 5), f.ids(w("filter.tags", taskstate.OpNin, []any{"a", "c"})), "no element is in the list; missing matches")
		require.Equal(t, pick(ids, 0), f.ids(w("filter.tags", taskstate.OpIn, []any{[]any{"a", "b"}})))
		require.Equal(t, pick(ids, 3, 4, 6), f.ids(w("filter.tags", taskstate.OpIn, []any{nil, []any{}})))
	}},

	{Group: "Arrays", Name: "Index", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := createDefs(f, arrayDefs)
		w := taskstate.Query{}.Where
		require.Equal(t, pick(ids, 1, 5), f.ids(w("filter.tags.0", taskstate.OpEq, "b")), "element 0, or the key \"0\"")
		require.Equal(t, pick(ids, 0), f.ids(w("filter.tags.1", taskstate.OpEq, "b")))
		require.Equal(t, pick(ids, 0, 6), f.ids(w("filter.tags.0", taskstate.OpEq, "a")), "not the scalar \"a\"")
		require.Equal(t, pick(ids, 0, 1, 6), f.ids(w("filter.tags.1", taskstate.OpExists, true)))
		require.Equal(t, pick(ids, 1), f.ids(w("filter.tags.0", taskstate.OpIn, []any{"b", "x"}).Where("filter.tags.1", taskstate.OpNin, []any{"b", nil})))
	}},

	{Group: "Arrays", Name: "Ranges", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := createDefs(f, arrayDefs)
		w := taskstate.Query{}.Where
		require.Equal(t, pick(ids, 0), f.ids(w("filter.n", taskstate.OpGt, 4)), "an element is greater")
		// Each condition may hold on another element: [1, 5] is both > 4 and < 2.
		require.Equal(t, pick(ids, 0), f.ids(w("filter.n", taskstate.OpGt, 4).Where("filter.n", taskstate.OpLt, 2)))
		require.Equal(t, pick(ids, 0, 1), f.ids(w("filter.n", taskstate.OpGte, 3).Where("filter.n", taskstate.OpLte, 3.5)))
	}},

	{Group: "Arrays", Name: "Nested", NeedsNestedArrays: true, Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := createDefs(f, []map[string]any{{"tags": []any{[]any{"a", "b"}, "x"}}, {"tags": []any{"a", "b"}}, {"tags": "a"}})
		w := taskstate.Query{}.Where
		require.Equal(t, pick(ids, 0, 1), f.ids(w("filter.tags", taskstate.OpEq, []any{"a", "b"})), "the whole array, or an element, equals")
		require.Equal(t, pick(ids, 1, 2), f.ids(w("filter.tags", taskstate.OpEq, "a")), "an element of an element does not count")
		require.Equal(t, pick(ids, 0, 1), f.ids(w("filter.tags.0", taskstate.OpEq, "a")), "but it does at an index")
		require.Equal(t, pick(ids, 0), f.ids(w("filter.tags.0.1", taskstate.OpEq, "b")))
		require.Equal(t, pick(ids, 2), f.ids(w("filter.tags", taskstate.OpNin, []any{[]any{"a", "b"}})))
	}},
}
