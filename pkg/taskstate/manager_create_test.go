package taskstate_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// TestManagerCreate runs the Manager over every backend: task creation (ids, dedup, dry runs, bad specs, concurrent creators) and pool isolation.
func TestManagerCreate(t *testing.T) {
	t.Parallel()
	runManagerCases(t, []managerCase{
		{name: "Create/NewTasksAreWaiting", fn: func(t *testing.T, e *env) {
			ids := e.create(specs("noop", 3)...)
			require.Len(t, ids, 3)
			for i, id := range ids {
				require.True(t, taskstate.ValidID(id), "id %q", id)
				task := e.get(id)
				require.Equal(t, taskstate.StatusWaiting, task.Status)
				require.Equal(t, "noop", task.Kind)
				require.Equal(t, 0, task.Attempts)
				require.Equal(t, taskstate.DefaultMaxAttempts, task.MaxAttempts)
				require.Equal(t, e.clock.Now(), task.CreatedAt)
				require.Equal(t, "Linear", task.Filter["model"].(map[string]any)["class"])
				v, err := e.m.DecodeDef(task)
				require.NoError(t, err)
				require.Equal(t, def("Linear", i), v)
			}
			require.Equal(t, counts(3, 0, 0, 0, 0), e.stat())
			require.Equal(t, 3, e.notes.count(taskstate.EventCreated))
		}},

		{name: "Create/IdempotentInInputOrder", fn: func(t *testing.T, e *env) {
			first := e.create(specs("noop", 3)...)
			// Same defs in another order, one new def, one repeated in the batch.
			again, err := e.m.Create(e.ctx, []taskstate.TaskSpec{
				{Kind: "noop", Def: def("Linear", 2)},
				{Kind: "noop", Def: def("GBDT", 9)},
				{Kind: "noop", Def: def("Linear", 0)},
				{Kind: "noop", Def: def("GBDT", 9)},
			}, taskstate.CreateOptions{})
			require.NoError(t, err)
			require.Equal(t, first[2], again.IDs[0])
			require.Equal(t, first[0], again.IDs[2])
			require.Equal(t, again.IDs[1], again.IDs[3])
			require.Equal(t, []bool{false, true, false, false}, again.New)
			require.Equal(t, 1, again.NewCount)
			require.Equal(t, counts(4, 0, 0, 0, 0), e.stat())
		}},

		{name: "Create/KeyIgnoresMapOrderButNotKind", fn: func(t *testing.T, e *env) {
			a := e.create(taskstate.TaskSpec{Kind: "noop", Def: map[string]any{"a": 1, "b": map[string]any{"x": 1, "y": 2}}})
			b := e.create(taskstate.TaskSpec{Kind: "noop", Def: map[string]any{"b": map[string]any{"y": 2, "x": 1}, "a": 1}})
			c := e.create(taskstate.TaskSpec{Kind: "sleep", Def: map[string]any{"a": 1, "b": map[string]any{"x": 1, "y": 2}}})
			require.Equal(t, a, b)
			require.NotEqual(t, a, c)
		}},

		{name: "Create/DryRunWritesNothing", fn: func(t *testing.T, e *env) {
			existing := e.create(specs("noop", 2)...)
			res, err := e.m.Create(e.ctx, append(specs("noop", 2), taskstate.TaskSpec{Kind: "noop", Def: def("New", 1)}), taskstate.CreateOptions{DryRun: true})
			require.NoError(t, err)
			require.Equal(t, []string{existing[0], existing[1], ""}, res.IDs)
			require.Equal(t, []bool{false, false, true}, res.New)
			require.Equal(t, counts(2, 0, 0, 0, 0), e.stat())
		}},

		{name: "Create/BadSpecs", fn: func(t *testing.T, e *env) {
			_, err := e.m.Create(e.ctx, []taskstate.TaskSpec{{Kind: "", Def: 1}}, taskstate.CreateOptions{})
			require.ErrorIs(t, err, taskstate.ErrInvalidTask)
			_, err = e.m.Create(e.ctx, []taskstate.TaskSpec{{Kind: "noop"}}, taskstate.CreateOptions{})
			require.ErrorIs(t, err, taskstate.ErrInvalidTask)
			_, err = e.m.Create(e.ctx, []taskstate.TaskSpec{{Kind: "noop", Def: map[string]any{"f": func() {}}}}, taskstate.CreateOptions{})
			require.ErrorIs(t, err, taskstate.ErrInvalidTask)
			require.Equal(t, counts(0, 0, 0, 0, 0), e.stat())
		}},

		{name: "Create/AttemptBudget", fn: func(t *testing.T, e *env) {
			ids := e.create(
				taskstate.TaskSpec{Kind: "noop", Def: 1, MaxAttempts: 5},
				taskstate.TaskSpec{Kind: "noop", Def: 2, MaxAttempts: taskstate.UnlimitedAttempts},
				taskstate.TaskSpec{Kind: "noop", Def: 3, Priority: 7},
			)
			require.Equal(t, 5, e.get(ids[0]).MaxAttempts)
			require.Equal(t, 0, e.get(ids[1]).MaxAttempts)
			require.Equal(t, 7, e.get(ids[2]).Priority)
			require.Equal(t, float64(1), e.get(ids[0]).Filter["value"])
		}},

		{name: "Create/ConcurrentCreatorsAgree", fn: func(t *testing.T, e *env) {
			const creators, n = 20, 200
			results := make([][]string, creators)
			var wg sync.WaitGroup
			errs := make(chan error, creators)
			for c := range creators {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := e.m.Create(e.ctx, specs("noop", n), taskstate.CreateOptions{})
					if err != nil {
						errs <- fmt.Errorf("creator %d: %w", c, err)
						return
					}
					results[c] = res.IDs
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			for c := 1; c < creators; c++ {
				require.Equal(t, results[0], results[c], "creator %d saw other ids", c)
			}
			require.Equal(t, counts(n, 0, 0, 0, 0), e.stat())
		}},

		{name: "Pools/ListAndIsolation", fn: func(t *testing.T, e *env) {
			other := e.manager("pool_b")
			e.create(specs("noop", 2)...)
			_, err := other.Create(e.ctx, specs("noop", 3), taskstate.CreateOptions{})
			require.NoError(t, err)
			pools, err := e.m.ListPools(e.ctx)
			require.NoError(t, err)
			require.Equal(t, []string{"pool_a", "pool_b"}, pools)
			c, err := other.Stat(e.ctx, taskstate.Query{})
			require.NoError(t, err)
			require.Equal(t, counts(3, 0, 0, 0, 0), c)
			require.Equal(t, counts(2, 0, 0, 0, 0), e.stat())
			// Same def in two pools: two tasks.
			a := e.create(taskstate.TaskSpec{Kind: "noop", Def: "same"})
			b, err := other.Create(e.ctx, []taskstate.TaskSpec{{Kind: "noop", Def: "same"}}, taskstate.CreateOptions{})
			require.NoError(t, err)
			require.NotEqual(t, a[0], b.IDs[0])
		}},
	})
}
