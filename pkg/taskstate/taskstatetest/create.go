package taskstatetest

import (
	"context"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

var createCases = []Case{
	{Group: "CreateTasks", Name: "NewTasksAreWaiting", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		in := []taskstate.NewTask{task("noop", 0), task("sleep", 1)}
		in[1].Priority = 4
		in[1].MaxAttempts = 0
		res, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: f.pool, Now: f.now, Tasks: in})
		require.NoError(t, err)
		require.Equal(t, []taskstate.CreatedTask{{ID: in[0].ID, Created: true}, {ID: in[1].ID, Created: true}}, res)
		for _, nt := range in {
			got := f.get(nt.ID)
			require.Equal(t, taskstate.StatusWaiting, got.Status)
			require.Equal(t, nt.Kind, got.Kind)
			require.Equal(t, nt.Priority, got.Priority)
			require.Equal(t, nt.MaxAttempts, got.MaxAttempts)
			require.Equal(t, nt.Def, got.Def)
			require.Equal(t, nt.Filter, got.Filter)
			require.Equal(t, 0, got.Attempts)
			require.Equal(t, f.now, got.CreatedAt)
			require.Equal(t, taskstate.Lease{}, got.Lease)
			require.Nil(t, got.Res)
		}
		require.Equal(t, counts(2, 0, 0, 0, 0), f.stat(taskstate.Query{}))
	}},

	{Group: "CreateTasks", Name: "DedupByKeyInInputOrder", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		first := f.create(tasks(0, 2)...)
		again := tasks(1, 2) // task 1 again (new id, same key) and a new task 2
		dup0 := task("noop", 0)
		res, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: f.pool, Now: f.now, Tasks: append(again, dup0)})
		require.NoError(t, err)
		require.Equal(t, []taskstate.CreatedTask{{ID: first[1]}, {ID: again[1].ID, Created: true}, {ID: first[0]}}, res)
		require.Equal(t, counts(3, 0, 0, 0, 0), f.stat(taskstate.Query{}))
		_, err = s.Get(ctx, taskstate.GetParams{Pool: f.pool, ID: dup0.ID})
		require.ErrorIs(t, err, taskstate.ErrNotFound, "a duplicate's own id is not stored")
	}},

	{Group: "CreateTasks", Name: "DryRunWritesNothing", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		existing := f.create(task("noop", 0))
		in := tasks(0, 2)
		res, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: f.pool, Now: f.now, Tasks: in, DryRun: true})
		require.NoError(t, err)
		require.Equal(t, []taskstate.CreatedTask{{ID: existing[0]}, {ID: "", Created: true}}, res)
		require.Equal(t, counts(1, 0, 0, 0, 0), f.stat(taskstate.Query{}))
		require.Equal(t, existing, f.ids(taskstate.Query{}))
		_, err = s.Get(ctx, taskstate.GetParams{Pool: f.pool, ID: in[1].ID})
		require.ErrorIs(t, err, taskstate.ErrNotFound)
	}},
}
