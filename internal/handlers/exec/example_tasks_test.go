package exec_test

import (
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/handlers/exec"
)

// repoRoot is where the example's relative command paths resolve.
const repoRoot = "../../.."

type exampleTask struct {
	Kind string         `yaml:"kind"`
	Def  map[string]any `yaml:"def"`
}

func loadExampleTasks(t *testing.T) []exampleTask {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "examples/exec/tasks.yaml"))
	require.NoError(t, err)
	var tasks []exampleTask
	require.NoError(t, yaml.Unmarshal(b, &tasks))
	require.NotEmpty(t, tasks)
	return tasks
}

func requirePython(t *testing.T) {
	t.Helper()
	if _, err := osexec.LookPath("python3"); err != nil {
		t.Skip("python3 not found on PATH; skipping the examples/exec tasks")
	}
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

func TestExampleTasks(t *testing.T) {
	t.Parallel()
	requirePython(t)
	root, err := filepath.Abs(repoRoot)
	require.NoError(t, err)

	for _, task := range loadExampleTasks(t) {
		name, _ := task.Def["name"].(string)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, "exec", task.Kind)
			def, err := exec.DefFromMap(task.Def)
			require.NoError(t, err)
			def.Dir = root
			log, logs := logger()

			res, err := exec.Run(t.Context(), def, log)
			require.NoError(t, err)

			slope, intercept := leastSquares(floats(t, task.Def["x"]), floats(t, task.Def["y"]))
			require.InDelta(t, slope, res["slope"], 1e-9)
			require.InDelta(t, intercept, res["intercept"], 1e-9)
			require.EqualValues(t, len(floats(t, task.Def["x"])), res["n"])
			require.Equal(t, name, res["name"])
			require.Equal(t, true, res["task_file_matches"])
			require.Contains(t, stderrLines(logs)[0], "train.py: task "+name)
		})
	}

	t.Run("Failure", func(t *testing.T) {
		t.Parallel()
		def := exec.Def{Command: []string{"python3", "examples/exec/train.py"}, Dir: root, Timeout: "30s",
			Task: []byte(`{"name": "broken", "fail": true}`)}
		_, err := exec.Run(t.Context(), def, nil)
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		require.Equal(t, 3, ee.Code)
		require.Contains(t, ee.StderrTail, "failing on purpose")
	})
}
