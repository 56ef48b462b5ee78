package taskstatetest

import (
	"context"
	"fmt"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// arrayDefs are the filters of the array cases, created in this order.
var arrayDefs = []map[string]any{
	{"tags": []any{"a", "b"}, "n": []any{1.0, 5.0}}, // 0
	{"tags": []any{"b", "c"}, "n": 3.0},             // 1
	{"tags": "a"},                                   // 2: a scalar
	{},                                              // 3: no tags
	{"tags": []any{}},                               // 4
	{"tags": []any{[]any{"a", "b"}, "x"}},           // 5: a nested array
	{"tags": map[string]any{"0": "b"}},              // 6: a key that looks like an index
	{"tags": []any{"a", nil}},                       // 7
}

// createArrays creates one task per arrayDefs entry and returns their ids.
func createArrays(f *fixture) []string {
	in := make([]taskstate.NewTask, len(arrayDefs))
	for i, def := range arrayDefs {
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
// its elements, $ne and $nin hold when no element matches, and a numeric
// path component indexes an array.
var arrayCases = []Case{
	{Group: "Arrays", Name: "Equality", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := createArrays(f)
		w := taskstate.Query{}.Where
		require.Equal(t, pick(ids, 0, 2, 7), f.ids(w("filter.tags", taskstate.OpEq, "a")), "an element equals")
		require.Equal(t, pick(ids, 0, 5), f.ids(w("filter.tags", taskstate.OpEq, []any{"a", "b"})), "the whole array, or a nested one, equals")
		require.Empty(t, f.ids(w("filter.tags", taskstate.OpEq, []any{"b", "a"})), "order matters")
		require.Equal(t, pick(ids, 4), f.ids(w("filter.tags", taskstate.OpEq, []any{})))
		require.Equal(t, pick(ids, 1, 3, 4, 5, 6), f.ids(w("filter.tags", taskstate.OpNe, "a")), "no element equals")
		require.Equal(t, pick(ids, 3, 7), f.ids(w("filter.tags", taskstate.OpEq, nil)), "missing, or a null element")
	}},

	{Group: "Arrays", Name: "InAndNin", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := createArrays(f)
		w := taskstate.Query{}.Where
		require.Equal(t, pick(ids, 0, 1, 2, 7), f.ids(w("filter.tags", taskstate.OpIn, []any{"a", "c"})))
		require.Equal(t, pick(ids, 3, 4, 5, 6), f.ids(w("filter.tags", taskstate.OpNin, []any{"a", "c"})), "no element in the list; missing matches")
		require.Equal(t, pick(ids, 0, 5), f.ids(w("filter.tags", taskstate.OpIn, []any{[]any{"a", "b"}})))
		require.Equal(t, pick(ids, 3, 4, 7), f.ids(w("filter.tags", taskstate.OpIn, []any{nil, []any{}})))
	}},

	{Group: "Arrays", Name: "Index", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := createArrays(f)
		w := taskstate.Query{}.Where
		require.Equal(t, pick(ids, 1, 5, 6), f.ids(w("filter.tags.0", taskstate.OpEq, "b")), "element 0 (or one of its elements), or the key \"0\"")
		require.Equal(t, pick(ids, 0), f.ids(w("filter.tags.1", taskstate.OpEq, "b")))
		require.Equal(t, pick(ids, 5), f.ids(w("filter.tags.0.1", taskstate.OpEq, "b")), "an index into a nested array")
		require.Equal(t, pick(ids, 0, 5, 7), f.ids(w("filter.tags.0", taskstate.OpEq, "a")), "a nested array at the index matches by element")
		require.Equal(t, pick(ids, 0, 1, 5, 7), f.ids(w("filter.tags.1", taskstate.OpExists, true)))
		require.Equal(t, pick(ids, 1, 5), f.ids(w("filter.tags.0", taskstate.OpIn, []any{"b", "x"}).Where("filter.tags", taskstate.OpExists, true).Where("filter.tags.1", taskstate.OpNin, []any{"b", nil})))
	}},

	{Group: "Arrays", Name: "Ranges", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := createArrays(f)
		w := taskstate.Query{}.Where
		require.Equal(t, pick(ids, 0), f.ids(w("filter.n", taskstate.OpGt, 4)), "an element is greater")
		// Each condition may hold on another element: [1, 5] is both > 4 and < 2.
		require.Equal(t, pick(ids, 0), f.ids(w("filter.n", taskstate.OpGt, 4).Where("filter.n", taskstate.OpLt, 2)))
		require.Equal(t, pick(ids, 0, 1), f.ids(w("filter.n", taskstate.OpGte, 3).Where("filter.n", taskstate.OpLte, 3.5).Where("filter.n", taskstate.OpExists, true).Where("filter.n", taskstate.OpNe, 0)))
	}},
}
