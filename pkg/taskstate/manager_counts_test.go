package taskstate_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// TestManagerCounters runs the Manager over every backend: the per-status counters against a scan after a random mix of Manager operations.
func TestManagerCounters(t *testing.T) {
	t.Parallel()
	runManagerCases(t, []managerCase{
		// The per-status counts Stat reads without a filter are kept by the
		// backend as tasks move; a filter that matches every task makes it
		// count the tasks themselves. After any mix of operations the two
		// must agree.
		{name: "Stat/CountersAgreeWithScan", fn: func(t *testing.T, e *env) {
			rng := rand.New(rand.NewPCG(1, 2))
			all := taskstate.Query{}.Where(taskstate.FieldID, taskstate.OpExists, true)
			check := func(step string) {
				t.Helper()
				scan, err := e.m.Stat(e.ctx, all)
				require.NoError(t, err)
				require.Equal(t, scan, e.stat(), "after %s: counters differ from a scan", step)
			}
			var held []*taskstate.Task
			next := 0
			for step := range 60 {
				op := rng.IntN(9)
				switch op {
				case 0, 1:
					n := 1 + rng.IntN(5)
					e.create(specsFrom("noop", next, n)...)
					next += n
				case 2:
					held = append(held, e.claim(taskstate.ClaimOptions{Limit: 1 + rng.IntN(4)})...)
				case 3, 4:
					if len(held) == 0 {
						continue
					}
					items := make([]taskstate.CommitItem, 0, len(held))
					for _, task := range held {
						to := taskstate.StatusDone
						if rng.IntN(3) == 0 {
							to = taskstate.StatusPartDone
						}
						items = append(items, taskstate.CommitItem{Task: task, Res: "r", To: to})
					}
					for _, err := range e.m.CommitMany(e.ctx, items) {
						if err != nil && !errors.Is(err, taskstate.ErrLeaseLost) {
							require.NoError(t, err)
						}
					}
					held = nil
				case 5:
					if len(held) == 0 {
						continue
					}
					_, err := e.m.Return(e.ctx, held[0], errors.New("boom"))
					if !errors.Is(err, taskstate.ErrLeaseLost) {
						require.NoError(t, err)
					}
					held = held[1:]
				case 6:
					_, err := e.m.ResetStatus(e.ctx, taskstate.Query{}.Where(taskstate.FieldStatus, taskstate.OpIn, []any{"done", "failed"}), taskstate.StatusWaiting)
					require.NoError(t, err)
				case 7:
					_, err := e.m.Remove(e.ctx, taskstate.Query{}.Where("filter.i", taskstate.OpLt, float64(rng.IntN(next+1))), true)
					require.NoError(t, err)
				case 8:
					e.clock.Advance(2 * time.Hour)
					_, err := e.m.ReapExpired(e.ctx, 0)
					require.NoError(t, err)
					_, err = e.m.RetryFailed(e.ctx, taskstate.Query{})
					require.NoError(t, err)
				}
				check(fmt.Sprintf("step %d (operation %d)", step, op))
			}
		}},
	})
}

// specsFrom returns n specs of kind whose defs are numbered from first.
func specsFrom(kind string, first, n int) []taskstate.TaskSpec {
	out := make([]taskstate.TaskSpec, n)
	for i := range out {
		out[i] = taskstate.TaskSpec{Kind: kind, Def: map[string]any{"i": first + i}}
	}
	return out
}
