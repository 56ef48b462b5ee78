package taskstatetest

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

var counterCases = []Case{
	// A backend may keep the unfiltered per-status counts as tasks move
	// instead of counting them; after any mix of writes they must agree
	// with a full scan (Query) and with a filtered Stat that matches every
	// task.
	{Group: "Stat", Name: "CountersAgreeWithScan", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		rng := rand.New(rand.NewPCG(1, 2))
		all := taskstate.Query{}.Where(taskstate.FieldID, taskstate.OpExists, true)
		var held []*taskstate.Task
		next := 0
		for step := range 60 {
			op := rng.IntN(9)
			switch op {
			case 0, 1: // create, with some keys again
				n := 1 + rng.IntN(5)
				first := max(0, next-rng.IntN(3))
				_, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: f.pool, Now: f.now, Tasks: tasks(first, n)})
				require.NoError(t, err)
				next = max(next, first+n)
			case 2: // claim from waiting or part_done
				from := taskstate.StatusWaiting
				if rng.IntN(3) == 0 {
					from = taskstate.StatusPartDone
				}
				held = append(held, f.claim(taskstate.ClaimParams{From: from, Limit: 1 + rng.IntN(4)})...)
			case 3, 4: // finish what is held, to any target; some leases are stale
				items := make([]taskstate.Transition, 0, len(held))
				for _, task := range held {
					tr := taskstate.Transition{ID: task.ID, Token: task.Lease.Token, Seq: task.Seq}
					switch rng.IntN(4) {
					case 0:
						tr.To, tr.SetRes, tr.Res = taskstate.StatusDone, true, []byte("r")
					case 1:
						tr.To, tr.SetRes, tr.Res = taskstate.StatusPartDone, true, []byte("p")
					case 2:
						tr.To, tr.SetError, tr.LastError = taskstate.StatusFailed, true, "x"
					case 3:
						tr.To, tr.UndoAttempt = task.ClaimedFrom, true
					}
					items = append(items, tr)
				}
				f.finish(items...)
				held = nil
			case 5: // reset some finished tasks, clearing leases of none
				f.update(taskstate.UpdateParams{Query: taskstate.ByStatus(taskstate.StatusDone, taskstate.StatusFailed), Status: taskstate.StatusWaiting})
			case 6: // reset running tasks: their holders are fenced out
				f.update(taskstate.UpdateParams{Query: taskstate.ByStatus(taskstate.StatusRunning).Where("filter.i", taskstate.OpLt, float64(rng.IntN(next+1))), Status: taskstate.StatusPartDone})
			case 7:
				_, err := s.Delete(ctx, taskstate.DeleteParams{Pool: f.pool, Query: taskstate.Query{}.Where("filter.i", taskstate.OpLt, float64(rng.IntN(next+1)))})
				require.NoError(t, err)
			case 8: // the reaper
				f.advance(2 * time.Minute)
				expired, err := s.ListExpired(ctx, taskstate.ListExpiredParams{Pool: f.pool, Now: f.now, Limit: 1 + rng.IntN(10)})
				require.NoError(t, err)
				items := make([]taskstate.Transition, len(expired))
				for i, task := range expired {
					items[i] = taskstate.Transition{ID: task.ID, Token: task.Lease.Token, To: task.ClaimedFrom, SetError: true, LastError: "expired"}
				}
				require.Equal(t, len(items), countTrue(f.finish(items...)))
			}
			scan := f.scan()
			require.Equal(t, scan, f.stat(taskstate.Query{}), "step %d (operation %d): counters differ from a scan", step, op)
			require.Equal(t, scan, f.stat(all), "step %d (operation %d): a filtered Stat differs from a scan", step, op)
		}
	}},
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
