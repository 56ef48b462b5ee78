package taskstate_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/gobcodec/gobbomb"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// TestCreateRefusesInvalidUTF8: two defs that differ only in invalid bytes
// used to be one task (the filter's JSON turned both into U+FFFD); now
// create refuses each, naming the path.
func TestCreateRefusesInvalidUTF8(t *testing.T) {
	m := newManager(t, "utf8")
	ctx := context.Background()
	for _, def := range []any{
		map[string]any{"model": map[string]any{"name": "a\xff"}},
		map[string]any{"model": map[string]any{"name": "a\xfe"}},
	} {
		_, err := m.Create(ctx, []taskstate.TaskSpec{{Kind: "k", Def: map[string]any{"ok": 1}}, {Kind: "k", Def: def}}, taskstate.CreateOptions{})
		require.ErrorIs(t, err, taskstate.ErrInvalidTask)
		require.ErrorIs(t, err, taskstate.ErrInvalidUTF8)
		require.Contains(t, err.Error(), "task 1: def.model.name: ")
	}
	_, err := m.Create(ctx, []taskstate.TaskSpec{{Kind: "k", Def: map[string]any{"k\xff": 1}}}, taskstate.CreateOptions{})
	require.ErrorIs(t, err, taskstate.ErrInvalidUTF8)
	require.Contains(t, err.Error(), `def: taskstate: not valid UTF-8: map key "k\xff"`)
	_, err = m.Create(ctx, []taskstate.TaskSpec{{Kind: "k", Def: gobbomb.NestedValue(5000)}}, taskstate.CreateOptions{})
	require.ErrorIs(t, err, taskstate.ErrInvalidTask)
	require.ErrorIs(t, err, taskstate.ErrPayloadTooDeep)
	counts, err := m.Stat(ctx, taskstate.Query{})
	require.NoError(t, err)
	require.Zero(t, counts.Total(), "nothing created")
}

// TestRunnerFailsBombs: defs that break the codec's limits (written to the
// store directly: the Manager refuses to create them) and a handler result
// nested too deep fail their tasks at once with a clear error; the other
// tasks are done.
func TestRunnerFailsBombs(t *testing.T) {
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: filepath.Join(t.TempDir(), "tasks.db")})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "bombs", Backoff: func(int) time.Duration { return time.Millisecond }})
	require.NoError(t, err)

	bombs := map[string][]byte{"map": gobbomb.MapHeader(1 << 26), "deep": gobbomb.NestedSlices(100_000)}
	ids := map[string]string{}
	for name, def := range bombs {
		created, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "bombs", Now: time.Now(), Tasks: []taskstate.NewTask{{
			ID: taskstate.NewID(), Kind: "echo", Key: name, Def: def, Filter: map[string]any{"bomb": name}, MaxAttempts: 5,
		}}})
		require.NoError(t, err)
		ids[name] = created[0].ID
	}
	specs := []taskstate.TaskSpec{{Kind: "echo", Def: map[string]any{"deep result": true}}}
	for i := range 10 {
		specs = append(specs, taskstate.TaskSpec{Kind: "echo", Def: i, MaxAttempts: 5})
	}
	created, err := m.Create(ctx, specs, taskstate.CreateOptions{})
	require.NoError(t, err)
	ids["result"] = created.IDs[0]

	r, err := taskstate.NewRunner(taskstate.RunnerConfig{Manager: m, Handlers: map[string]taskstate.HandlerFunc{
		"echo": func(_ context.Context, _ *taskstate.Task, def any) (any, error) {
			if _, ok := def.(map[string]any); ok {
				return gobbomb.NestedValue(10_000), nil
			}
			return def, nil
		},
	}})
	require.NoError(t, err)
	startRunner(t, r)
	counts := waitDone(t, m, 30*time.Second)
	require.Equal(t, 10, counts[taskstate.StatusDone])
	require.Equal(t, 3, counts[taskstate.StatusFailed])

	for name, want := range map[string]string{
		"map":    "def: taskstate: cannot decode payload: gobcodec: length larger than the payload: length 67108864",
		"deep":   "def: taskstate: cannot decode payload: gobcodec: nested too deep: more than 1000 levels",
		"result": "result: taskstate: encode []interface {}: 0.0.0.0.0.0.0.0.(984 more).0.0.0.0.0.0.0.0: gobcodec: nested too deep",
	} {
		task, err := m.Get(ctx, ids[name])
		require.NoError(t, err)
		require.Equal(t, taskstate.StatusFailed, task.Status, name)
		require.Contains(t, task.LastError, want, name)
		require.Equal(t, 1, task.Attempts, "%s: not retried", name)
		_, err = m.DecodeDef(task)
		if name == "result" {
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, taskstate.ErrDecode)
		}
	}
}
