package taskstate_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// TestManagerQuery runs the Manager over every backend: queries: operators, payloads, streaming, invalid queries.
func TestManagerQuery(t *testing.T) {
	t.Parallel()
	runManagerCases(t, []managerCase{
		{name: "Query/Operators", fn: func(t *testing.T, e *env) {
			ids := e.create(
				taskstate.TaskSpec{Kind: "linear", Def: map[string]any{"model": map[string]any{"class": "Linear"}, "n": 1, "tag": "a", "flag": true}},
				taskstate.TaskSpec{Kind: "linear", Def: map[string]any{"model": map[string]any{"class": "GBDT"}, "n": 2, "tag": "b"}, Priority: 3},
				taskstate.TaskSpec{Kind: "sleep", Def: map[string]any{"model": map[string]any{"class": "GBDT"}, "n": 3, "tag": nil, "flag": false}},
				taskstate.TaskSpec{Kind: "sleep", Def: map[string]any{"model": map[string]any{"class": "MLP"}, "n": "4"}},
			)
			q := func(qs string) []string {
				t.Helper()
				parsed, err := taskstate.ParseQueryJSON(qs)
				require.NoError(t, err, qs)
				return e.ids(parsed)
			}
			pick := func(is ...int) []string {
				var out []string
				for _, i := range is {
					out = append(out, ids[i])
				}
				return out
			}
			require.Equal(t, pick(0, 1, 2, 3), q(`{}`))
			require.Equal(t, pick(1, 2), q(`{"filter.model.class": "GBDT"}`))
			require.Equal(t, pick(0, 3), q(`{"filter.model.class": {"$ne": "GBDT"}}`))
			require.Equal(t, pick(0, 3), q(`{"filter.model.class": {"$in": ["Linear", "MLP"]}}`))
			require.Equal(t, pick(1, 2), q(`{"filter.model.class": {"$nin": ["Linear", "MLP"]}}`))
			require.Equal(t, pick(1, 2), q(`{"filter.n": {"$gt": 1}}`), "numbers compare with numbers only")
			require.Equal(t, pick(0, 1), q(`{"filter.n": {"$lte": 2}}`))
			require.Equal(t, pick(1), q(`{"filter.n": {"$gte": 2, "$lt": 3}}`))
			require.Equal(t, pick(3), q(`{"filter.n": "4"}`))
			require.Equal(t, pick(0, 2), q(`{"filter.flag": {"$exists": true}}`))
			require.Equal(t, pick(1, 3), q(`{"filter.flag": {"$exists": false}}`))
			require.Equal(t, pick(0), q(`{"filter.flag": true}`))
			require.Equal(t, pick(2, 3), q(`{"filter.tag": null}`), "null matches null and missing")
			require.Equal(t, pick(0, 1), q(`{"filter.tag": {"$ne": null}}`))
			require.Equal(t, pick(0), q(`{"filter.model": {"class": "Linear"}}`), "a sub-document equals as a whole")
			require.Equal(t, pick(2, 3), q(`{"kind": "sleep"}`))
			require.Equal(t, pick(1), q(`{"priority": {"$gt": 0}}`))
			require.Equal(t, pick(0, 1, 2, 3), q(`{"status": "waiting"}`))
			require.Equal(t, pick(2), q(`{"_id": "`+ids[2]+`"}`))
			require.Equal(t, pick(1, 3), q(`{"_id": {"$in": ["`+ids[3]+`", "`+ids[1]+`"]}}`))
			require.Equal(t, pick(0, 2, 3), q(`{"_id": {"$nin": ["`+ids[1]+`"]}}`))
			require.Equal(t, pick(1), q(`{"kind": "linear", "filter.tag": "b"}`))
			require.Equal(t, pick(0), q(`{"filter": {"model": {"class": "Linear"}, "n": 1, "tag": "a", "flag": true}}`), "the whole def, Qlib's {filter: def}")
		}},

		{name: "Query/PayloadsOnlyWhenAsked", fn: func(t *testing.T, e *env) {
			e.create(specs("noop", 2)...)
			task := e.claimOne()
			require.NoError(t, e.m.Commit(e.ctx, task, "r", ""))
			for task, err := range e.m.Query(e.ctx, taskstate.Query{}, taskstate.QueryOptions{}) {
				require.NoError(t, err)
				require.Nil(t, task.Def)
				require.Nil(t, task.Res)
				require.NotEmpty(t, task.Filter)
			}
			withRes := 0
			for task, err := range e.m.Query(e.ctx, taskstate.Query{}, taskstate.QueryOptions{Payloads: true}) {
				require.NoError(t, err)
				require.NotEmpty(t, task.Def)
				if task.Res != nil {
					withRes++
				}
			}
			require.Equal(t, 1, withRes)
		}},

		{name: "Query/StreamsAndStopsEarly", fn: func(t *testing.T, e *env) {
			ids := e.create(specs("noop", 50)...)
			var got []string
			for task, err := range e.m.Query(e.ctx, taskstate.Query{}, taskstate.QueryOptions{}) {
				require.NoError(t, err)
				got = append(got, task.ID)
				if len(got) == 3 {
					break
				}
			}
			require.Equal(t, ids[:3], got)
			var limited []string
			for task, err := range e.m.Query(e.ctx, taskstate.Query{}, taskstate.QueryOptions{Limit: 5}) {
				require.NoError(t, err)
				limited = append(limited, task.ID)
			}
			require.Equal(t, ids[:5], limited)
			// The store still answers after an abandoned stream.
			require.Equal(t, 50, e.stat().Total())
		}},

		{name: "Query/InvalidQueriesNamePath", fn: func(t *testing.T, e *env) {
			e.create(specs("noop", 1)...)
			for qs, path := range map[string]string{
				`{"_id": "not-hex"}`:                      "_id",
				`{"_id": {"$in": ["abc"]}}`:               "_id.$in[0]",
				`{"filter.a": {"$regex": "x"}}`:           "filter.a",
				`{"status": "finished"}`:                  "status",
				`{"owner": "x"}`:                          "owner",
				`{"filter.a": {"$in": "x"}}`:              "filter.a.$in",
				`{"filter.a": {"$exists": 1}}`:            "filter.a.$exists",
				`{"priority": {"$gt": "high"}}`:           "priority.$gt",
				`{"filter.a": {"$gt": 1, "plain": true}}`: "filter.a",
			} {
				_, err := taskstate.ParseQueryJSON(qs)
				requireInvalidQuery(t, err, path)
			}
			bad := taskstate.Query{}.Where("_id", taskstate.OpEq, "zz")
			for _, err := range e.m.Query(e.ctx, bad, taskstate.QueryOptions{}) {
				requireInvalidQuery(t, err, "_id")
			}
			_, err := e.m.Stat(e.ctx, bad)
			requireInvalidQuery(t, err, "_id")
			_, err = e.m.Remove(e.ctx, bad, false)
			requireInvalidQuery(t, err, "_id")
			_, err = e.m.ResetStatus(e.ctx, bad, taskstate.StatusWaiting)
			requireInvalidQuery(t, err, "_id")
			require.Equal(t, 1, e.stat().Total())
		}},
	})
}
