//go:build unix

package e2e_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/dataset"
	"github.com/taskfleet/taskfleet/internal/fleettest"
	"github.com/taskfleet/taskfleet/pkg/rolling"
)

// runTimeout bounds a `dispatcher run` of Python training programs.
const runTimeout = 5 * time.Minute

// qlibPython returns a Python with modules, preferring Debian's, or skips.
func qlibPython(t *testing.T, modules string) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(py); err == nil && exec.Command(path, "-c", "import "+modules).Run() == nil {
			return path
		}
	}
	t.Skipf("needs Python with %s (Debian: apt-get install python3-pandas python3-xgboost)", modules)
	return ""
}

func repoPath(t *testing.T, rel string) string {
	p, err := filepath.Abs(filepath.Join("..", "..", rel))
	require.NoError(t, err)
	return p
}

// qlibConfig copies examples/qlib/NAME into dir with the program run by py
// (the script at its absolute path) and the paths made absolute.
func qlibConfig(t *testing.T, dir, name, py, script string, replace ...string) string {
	b, err := os.ReadFile(repoPath(t, "examples/qlib/"+name))
	require.NoError(t, err)
	r := strings.NewReplacer(append([]string{
		"command: [python3, " + script + "]", "command: [" + py + ", " + repoPath(t, script) + "]",
	}, replace...)...)
	text := r.Replace(string(b))
	require.Contains(t, text, repoPath(t, script), "the config names the program")
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	return p
}

type runResult struct {
	Tasks     int            `json:"tasks"`
	New       int            `json:"new"`
	Reused    int            `json:"reused"`
	Counts    map[string]int `json:"counts"`
	Collected struct {
		IC     float64 `json:"ic"`
		Rows   int     `json:"rows"`
		Output string  `json:"output"`
	} `json:"collected"`
}

// runJob runs `dispatcher run` in dir to completion, then check (the tasks
// it created).
func runJob(t *testing.T, bin fleettest.Binaries, dir string, env []string, check func(), args ...string) runResult {
	t.Helper()
	p := fleettest.Start(t, fleettest.Cmd{Path: bin.Dispatcher, Args: append([]string{"run", "-o", "json"}, args...), Env: env, Dir: dir})
	code := p.WaitExit(t, runTimeout)
	require.Equal(t, 0, code, "%s", p.Dump())
	if check != nil {
		check()
	}
	var res runResult
	require.NoError(t, json.Unmarshal([]byte(p.Stdout()), &res), p.Stdout())
	return res
}

// xgbJob writes the panel with `dispatcher dataset synth` into a new
// directory and examples/qlib/rolling_xgb.yaml beside it, reading that
// panel and writing its predictions to pred.csv there.
func xgbJob(t *testing.T) (py string, bin fleettest.Binaries, dir, panelFile, cfg string) {
	t.Helper()
	py = qlibPython(t, "pandas, xgboost")
	bin = fleettest.Build(t)
	dir = t.TempDir()
	panelFile = filepath.Join(dir, "panel.csv")
	r := fleettest.Run(t, fleettest.Cmd{Path: bin.Dispatcher, Args: []string{"dataset", "synth", "--out", panelFile}})
	require.Equal(t, 0, r.Code, r.String())
	cfg = qlibConfig(t, dir, "rolling_xgb.yaml", py, "examples/qlib/train.py",
		"csv: data/panel.csv", "csv: "+panelFile, "output: out/qlib_xgb_pred.csv", "output: "+filepath.Join(dir, "pred.csv"))
	return py, bin, dir, panelFile, cfg
}

// TestQlibPythonRolling is `make demo-python` through real processes:
// `dispatcher dataset synth` writes the panel, `dispatcher run` on the
// embedded default runs examples/qlib/train.py for 2 models × 4 windows,
// collects pred.csv artifacts, and the ensemble covers each test day ×
// instrument exactly once with a clearly positive IC; a re-run reuses every
// task.
func TestQlibPythonRolling(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped in -short mode")
	}
	_, bin, dir, panelFile, cfg := xgbJob(t)
	out := filepath.Join(dir, "pred.csv")
	env := fleettest.Env("TASKFLEET_LOG_LEVEL=warn")

	check := func() { // what run did before the kind: the tasks, with Qlib's dicts and the panel
		r := fleettest.Run(t, fleettest.Cmd{Path: bin.Dispatcher, Args: []string{"query", "--pool", "qlib_xgb", "-o", "json"}, Env: env, Dir: dir})
		require.Equal(t, 0, r.Code, r.String())
		var tasks []struct {
			Kind   string         `json:"kind"`
			Status string         `json:"status"`
			Filter map[string]any `json:"filter"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.Stdout), &tasks))
		require.Len(t, tasks, 8)
		for _, tk := range tasks {
			require.Equal(t, "train", tk.Kind)
			csv, _ := rolling.GetPath(tk.Filter, "dataset.kwargs.data.csv")
			require.Equal(t, panelFile, csv)
		}
	}
	res := runJob(t, bin, dir, env, check, "-f", cfg)
	require.Equal(t, 8, res.Tasks)
	require.Equal(t, 8, res.Counts["done"], "every window done")
	require.Greater(t, res.Collected.IC, 0.1, "ensemble IC of the planted signal")

	panel, err := dataset.LoadCSV(panelFile)
	require.NoError(t, err)
	want := map[string]bool{}
	for _, row := range panel.Between(mustDay(t, "2020-04-01"), mustDay(t, "2021-12-31")).Rows {
		want[row.Datetime.Format(time.DateOnly)+" "+row.Instrument] = true
	}
	got := predKeys(t, out)
	require.Len(t, got, len(want), "each test day × instrument")
	for k, n := range got {
		require.True(t, want[k], "a prediction outside the test span: %s", k)
		require.Equal(t, 1, n, "%s predicted %d times", k, n)
	}
	require.Equal(t, len(want), res.Collected.Rows)

	again := runJob(t, bin, dir, env, nil, "-f", cfg)
	require.Equal(t, 0, again.New)
	require.Equal(t, 8, again.Reused, "a re-run reuses every task")
	require.InDelta(t, res.Collected.IC, again.Collected.IC, 1e-12)
}

// standIn is a program for the Qlib workflow config: for each business day
// of the test segment and three instruments it writes a score and a label
// equal to it, so the ensemble IC is 1.
const standIn = `import datetime, json, os, sys
sys.path.insert(0, sys.argv[1])
import taskfleet_task
task = taskfleet_task.load()
start, end = task.def_["dataset"]["kwargs"]["segments"]["test"]
d, last = datetime.date.fromisoformat(start), datetime.date.fromisoformat(end or "2020-08-31")
with open(os.path.join(task.artifact_dir, "pred.csv"), "w") as f:
    f.write("datetime,instrument,score,label\n")
    while d <= last:
        if d.weekday() < 5:
            for i, inst in enumerate(["SH600000", "SH600519", "SZ000001"]):
                s = (d.toordinal() * 7 + i * 3) % 11
                f.write("%s,%s,%d,%d\n" % (d.isoformat(), inst, s, s))
        d += datetime.timedelta(days=1)
taskfleet_task.done({"model": task.def_["model"]["class"]})
`

// TestQlibWorkflowRun runs Qlib's LightGBM/Alpha158 workflow config, with
// its taskfleet: section, through `dispatcher run` with a stand-in program:
// the 4 rolling windows are done with Qlib's task dict as their def and the
// stand-in's predictions are collected.
func TestQlibWorkflowRun(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped in -short mode")
	}
	py := qlibPython(t, "json")
	bin := fleettest.Build(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "standin.py")
	require.NoError(t, os.WriteFile(script, []byte(standIn), 0o644))
	b, err := os.ReadFile(repoPath(t, "examples/qlib/workflow_config_lightgbm_Alpha158.yaml"))
	require.NoError(t, err)
	out := filepath.Join(dir, "pred.csv")
	text := strings.NewReplacer(
		"command: [python3, train_qlib.py]", "command: ["+py+", "+script+", "+repoPath(t, "python")+"]",
		"output: out/lgb_alpha158_pred.parquet", "output: "+out,
	).Replace(string(b))
	require.Contains(t, text, script)
	cfg := filepath.Join(dir, "workflow.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(text), 0o644))
	env := fleettest.Env("TASKFLEET_LOG_LEVEL=warn")

	check := func() {
		r := fleettest.Run(t, fleettest.Cmd{Path: bin.Dispatcher, Args: []string{"query", "--pool", "lgb_alpha158", "-o", "json"}, Env: env, Dir: dir})
		require.Equal(t, 0, r.Code, r.String())
		var tasks []struct {
			Kind   string         `json:"kind"`
			Filter map[string]any `json:"filter"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.Stdout), &tasks))
		require.Len(t, tasks, 4)
		for _, tk := range tasks {
			require.Equal(t, "train", tk.Kind)
			cls, _ := rolling.GetPath(tk.Filter, "model.class")
			require.Equal(t, "LGBModel", cls)
			rec, _ := rolling.GetPath(tk.Filter, "record")
			require.Len(t, rec, 3, "Qlib's records are kept in the def")
		}
	}
	res := runJob(t, bin, dir, env, check, "-f", cfg)
	require.Equal(t, 4, res.Counts["done"])
	require.InDelta(t, 1.0, res.Collected.IC, 1e-9, "the stand-in's labels equal its scores")
	got := predKeys(t, out)
	require.NotEmpty(t, got)
	for k, n := range got {
		require.Equal(t, 1, n, "%s predicted %d times", k, n)
	}
}

func mustDay(t *testing.T, s string) time.Time {
	d, err := rolling.ParseDate(s)
	require.NoError(t, err)
	return d
}

// predKeys counts the (datetime, instrument) pairs of a predictions CSV.
func predKeys(t *testing.T, path string) map[string]int {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"datetime", "instrument"}, recs[0][:2])
	got := map[string]int{}
	for _, r := range recs[1:] {
		got[r[0][:10]+" "+r[1]]++
	}
	return got
}

// TestQlibPythonRollingOnAFleet is the same job on a fleet: a `dispatcher
// dev` event server, a separate worker process that registers train.py
// with --programs, and `dispatcher run --store … --nats …`, which creates
// the tasks, waits for the worker and collects the pred.csv artifacts.
func TestQlibPythonRollingOnAFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped in -short mode")
	}
	py, bin, dir, _, cfg := xgbJob(t)
	programs := filepath.Join(dir, "programs.yaml")
	require.NoError(t, os.WriteFile(programs, fmt.Appendf(nil, "train:\n  command: [%s, %s]\n  env: {PYTHONPATH: %q}\n",
		py, repoPath(t, "examples/qlib/train.py"), repoPath(t, "python")), 0o600))

	store := "sqlite://" + filepath.Join(dir, "fleet.db")
	listen := fleettest.FreeAddr(t)
	env := fleettest.Env("TASKFLEET_LOG_LEVEL=warn")
	dev := fleettest.Start(t, fleettest.Cmd{Name: "dev", Path: bin.Dispatcher, Env: env, Dir: dir,
		Args: []string{"dev", "--nats-listen", listen, "--nats-store-dir", t.TempDir(), "--store", store}})
	dev.WaitOutput(t, fleettest.StartTimeout, fleettest.Stdout, "nats listening on ")
	nats := "nats://" + listen
	w := fleettest.Start(t, fleettest.Cmd{Name: "worker", Path: bin.Worker, Env: env, Dir: dir,
		Args: []string{"--store", store, "--nats", nats, "--pool", "qlib_xgb", "--programs", programs, "--concurrency", "2"}})

	res := runJob(t, bin, dir, env, nil, "-f", cfg, "--store", store, "--nats", nats)
	require.Equal(t, 8, res.Tasks)
	require.Equal(t, 8, res.Counts["done"], "every window done by the separate worker\n%s", w.Dump())
	require.Greater(t, res.Collected.IC, 0.1, "ensemble IC of the planted signal")
	require.Positive(t, res.Collected.Rows)
}
