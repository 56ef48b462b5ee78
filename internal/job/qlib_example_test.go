package job_test

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/handlers"
	"github.com/taskfleet/taskfleet/internal/job"
	"github.com/taskfleet/taskfleet/pkg/collect"
	"github.com/taskfleet/taskfleet/pkg/rolling"
)

// pythonWith returns a Python that imports modules, preferring Debian's
// /usr/bin/python3, or skips the test saying what to install.
func pythonWith(t *testing.T, modules string) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import "+modules).Run() == nil {
			return path
		}
	}
	t.Skipf("examples/qlib/train.py needs Python with %s (Debian: apt-get install python3-pandas python3-xgboost)", modules)
	return ""
}

// TestQlibTrainProgram runs examples/qlib/train.py as a real process, as a
// worker would (task file, result file, artifact and work directories), on
// the first window of each model of examples/qlib/rolling_xgb.yaml over a
// synthetic panel: pred.csv covers each test day × instrument exactly once,
// and the test IC is clearly positive (the panel has a planted signal).
func TestQlibTrainProgram(t *testing.T) {
	py := pythonWith(t, "pandas, xgboost")
	dir := t.TempDir()
	spec := handlers.SynthSpec{Start: "2018-12-03", End: "2021-12-31", Instruments: 40, Features: 6, Seed: 11, SNR: 0.1}
	panel, err := handlers.DataSpec{Synthetic: &spec}.Load()
	require.NoError(t, err)
	panelFile := filepath.Join(dir, "panel.csv")
	f, err := os.Create(panelFile)
	require.NoError(t, err)
	require.NoError(t, panel.WriteCSV(f))
	require.NoError(t, f.Close())

	cfg, err := job.Load(repoFile(t, "examples/qlib/rolling_xgb.yaml"))
	require.NoError(t, err)
	cfg.Dataset = map[string]any{"csv": panelFile}
	specs, _, err := cfg.Specs()
	require.NoError(t, err)
	first := map[string]map[string]any{} // the first window of each model
	for _, s := range specs {
		def := s.Def.(map[string]any)
		class, _ := rolling.GetPath(def, "model.class")
		if _, ok := first[class.(string)]; !ok {
			first[class.(string)] = def
		}
	}
	require.Len(t, first, 2)

	for class, def := range first {
		t.Run(class, func(t *testing.T) {
			work := filepath.Join(dir, class)
			arts := filepath.Join(work, "artifacts")
			require.NoError(t, os.MkdirAll(arts, 0o755))
			doc, err := json.Marshal(map[string]any{"id": "0123456789abcdef01234567", "pool": "qlib_xgb", "kind": "train",
				"attempt": 1, "max_attempts": 2, "phase": "waiting", "def": def})
			require.NoError(t, err)
			taskFile, resultFile := filepath.Join(work, "task.json"), filepath.Join(work, "result.json")
			require.NoError(t, os.WriteFile(taskFile, doc, 0o600))
			cmd := exec.Command(py, repoFile(t, "examples/qlib/train.py"))
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TASKFLEET_TASK_FILE=" + taskFile, "TASKFLEET_RESULT_FILE=" + resultFile,
				"TASKFLEET_ARTIFACT_DIR=" + arts, "TASKFLEET_WORK_DIR=" + work}
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)

			var res struct {
				Model  string         `json:"model"`
				Rows   map[string]int `json:"rows"`
				TestIC float64        `json:"test_ic"`
			}
			b, err := os.ReadFile(resultFile)
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(b, &res))
			require.Equal(t, class, res.Model)
			_, err = os.Stat(filepath.Join(arts, "model.json"))
			require.NoError(t, err, "the model artifact")

			seg, _ := rolling.GetPath(def, "dataset.kwargs.segments.test")
			start, end := mustDate(t, seg.([]any)[0].(string)), mustDate(t, seg.([]any)[1].(string))
			want := map[string]bool{}
			for _, r := range panel.Between(start, end).Rows {
				want[r.Datetime.Format(time.DateOnly)+" "+r.Instrument] = true
			}
			require.NotEmpty(t, want)
			got, ic := readPred(t, filepath.Join(arts, "pred.csv"))
			require.Len(t, got, len(want), "one prediction per test day × instrument")
			for k, n := range got {
				require.True(t, want[k], "prediction outside the test segment: %s", k)
				require.Equal(t, 1, n, "%s predicted %d times", k, n)
			}
			require.Equal(t, len(want), res.Rows["test"])
			require.Greater(t, ic, 0.15, "test IC of the planted signal")
			require.InDelta(t, ic, res.TestIC, 1e-9, "the program reports the IC of its pred.csv")
		})
	}
}

// readPred reads a pred.csv (datetime, instrument, score, label): the count
// of each (datetime, instrument) and the mean daily Pearson IC.
func readPred(t *testing.T, path string) (map[string]int, float64) {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"datetime", "instrument", "score", "label"}, recs[0])
	count := map[string]int{}
	days := map[string][2][]float64{}
	var order []string
	for _, r := range recs[1:] {
		count[r[0]+" "+r[1]]++
		s, err := strconv.ParseFloat(r[2], 64)
		require.NoError(t, err)
		l, err := strconv.ParseFloat(r[3], 64)
		require.NoError(t, err)
		d, ok := days[r[0]]
		if !ok {
			order = append(order, r[0])
		}
		days[r[0]] = [2][]float64{append(d[0], s), append(d[1], l)}
	}
	var sum float64
	for _, d := range order {
		sum += collect.Pearson(days[d][0], days[d][1])
	}
	return count, sum / float64(len(order))
}
