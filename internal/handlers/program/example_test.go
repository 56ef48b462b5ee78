package program_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/handlers/program"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// repoRoot is where the example's relative paths resolve.
const repoRoot = "../../.."

type exampleTask struct {
	Kind string         `yaml:"kind"`
	Def  map[string]any `yaml:"def"`
}

func floats(t *testing.T, v any) []float64 {
	t.Helper()
	list, ok := v.([]any)
	require.True(t, ok, "want a list, got %T", v)
	out := make([]float64, len(list))
	for i, e := range list {
		_, err := fmt.Sscan(fmt.Sprint(e), &out[i])
		require.NoError(t, err)
	}
	return out
}

// leastSquares is the fit train.py should compute.
func leastSquares(xs, ys []float64) (slope, intercept float64) {
	n := float64(len(xs))
	var mx, my float64
	for i := range xs {
		mx += xs[i] / n
		my += ys[i] / n
	}
	var sxx, sxy float64
	for i := range xs {
		sxx += (xs[i] - mx) * (xs[i] - mx)
		sxy += (xs[i] - mx) * (ys[i] - my)
	}
	slope = sxy / sxx
	return slope, my - slope*mx
}

// TestExample runs examples/program: the tasks of tasks.yaml through the
// program of programs.yaml, phase one then phase two.
func TestExample(t *testing.T) {
	t.Parallel()
	py := python(t)
	root, err := filepath.Abs(repoRoot)
	require.NoError(t, err)
	specs, err := program.LoadFile(filepath.Join(root, "examples", "program", "programs.yaml"), builtins)
	require.NoError(t, err)
	require.Len(t, specs, 1)
	spec := specs[0]
	require.Equal(t, "train", spec.Name)
	spec.Dir = root
	spec.Command[0] = py
	b, err := os.ReadFile(filepath.Join(root, "examples", "program", "tasks.yaml"))
	require.NoError(t, err)
	var tasks []exampleTask
	require.NoError(t, yaml.Unmarshal(b, &tasks))
	require.NotEmpty(t, tasks)

	for i, task := range tasks {
		name, _ := task.Def["name"].(string)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, "train", task.Kind)
			require.NotContains(t, task.Def, "command", "defs are data only")
			sink := &program.MemorySink{}
			opts := testOpts()
			opts.LogSink = sink
			tk := &taskstate.Task{ID: fmt.Sprintf("ex%d", i), Kind: "train", Attempts: 1, MaxAttempts: 3, ClaimedFrom: taskstate.StatusWaiting}
			res, err := runSpec(t.Context(), spec, opts, tk, task.Def)
			require.NoError(t, err)
			slope, intercept := leastSquares(floats(t, task.Def["x"]), floats(t, task.Def["y"]))
			model := res["model"].(map[string]any)
			require.InDelta(t, slope, model["slope"], 1e-9)
			require.InDelta(t, intercept, model["intercept"], 1e-9)
			require.Equal(t, name, res["name"])
			l, ok := sink.Get(program.LogRef{Pool: "p1", ID: tk.ID, Phase: taskstate.StatusWaiting, Attempt: 1})
			require.True(t, ok)
			require.Contains(t, string(l.Tail), "train.py: task "+tk.ID+" ("+name+"): attempt 1, phase waiting")

			var codec taskstate.Codec
			tk.Def, err = codec.Encode(task.Def)
			require.NoError(t, err)
			tk.ClaimedFrom, tk.Attempts = taskstate.StatusPartDone, 1
			res2, err := runSpec(t.Context(), spec, opts, tk, res)
			require.NoError(t, err)
			require.Equal(t, model, res2["model"])
			require.Greater(t, res2["r2"], 0.9)
		})
	}

	t.Run("Failure", func(t *testing.T) {
		t.Parallel()
		sink := &program.MemorySink{}
		opts := testOpts()
		opts.LogSink = sink
		tk := &taskstate.Task{ID: "broken", Kind: "train", Attempts: 3, MaxAttempts: 3, ClaimedFrom: taskstate.StatusWaiting}
		_, err := runSpec(t.Context(), spec, opts, tk, map[string]any{"name": "broken", "fail": true})
		var ee *program.ExitError
		require.ErrorAs(t, err, &ee)
		require.Equal(t, 3, ee.Code)
		require.Contains(t, ee.LogTail, "failing on purpose")
		require.ErrorContains(t, err, "failing on purpose")
		l, ok := sink.Get(program.LogRef{Pool: "p1", ID: "broken", Phase: taskstate.StatusWaiting, Attempt: 3})
		require.True(t, ok)
		require.Contains(t, string(l.Tail), "failing on purpose", "the stderr of a failed task is in the sink")
	})
}
