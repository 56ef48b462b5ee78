package taskstatetest

import (
	"context"
	"slices"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// pageCases are keyset pages: a condition on FieldSeq after the last task
// of the previous page, in creation order either way.
var pageCases = []Case{
	{Group: "Query", Name: "KeysetPagesBothWays", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := f.create(tasks(0, 7)...)
		task := f.claimOne()
		require.Equal(t, []bool{true}, f.finish(commit(task, "r")))
		pages := func(desc bool, q taskstate.Query) []string {
			var got []string
			op := taskstate.OpGt
			if desc {
				op = taskstate.OpLt
			}
			cur := q
			for range 10 {
				page := f.query(taskstate.QueryParams{Query: cur, Limit: 3, Desc: desc})
				got = append(got, taskIDs(page)...)
				if len(page) < 3 {
					break
				}
				cur = q.Where(taskstate.FieldSeq, op, page[len(page)-1].Seq)
			}
			return got
		}
		require.Equal(t, ids, pages(false, taskstate.Query{}))
		rev := slices.Clone(ids)
		slices.Reverse(rev)
		require.Equal(t, rev, pages(true, taskstate.Query{}))
		waiting := taskstate.ByStatus(taskstate.StatusWaiting)
		require.Equal(t, ids[1:], pages(false, waiting), "a status filter pages too")
		require.Equal(t, rev[:6], pages(true, waiting))
	}},
}
