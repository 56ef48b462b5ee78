package job_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/handlers/program"
	"github.com/taskfleet/taskfleet/internal/job"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// phaseScript is a two-phase program: phase one "fits" (the test window's
// start), phase two finishes from phase one's result. It logs to stderr.
const phaseScript = `
import os, sys
sys.path.insert(0, os.environ["PYDIR"])
import taskfleet_task
task = taskfleet_task.load()
test = task.def_["dataset"]["kwargs"]["segments"]["test"]
print("phase %s of %s" % (task.phase, task.id), file=sys.stderr)
if task.phase == "waiting":
    taskfleet_task.done({"fit": str(test[0])})
else:
    taskfleet_task.done({"fit": task.res["fit"], "scored": True})
`

// programConfig writes a two-phase run config whose kind is a Python
// program of its programs: map.
func programConfig(t *testing.T) string {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "fit.py")
	require.NoError(t, os.WriteFile(script, []byte(phaseScript), 0o600))
	pydir, err := filepath.Abs(repoFile(t, "python"))
	require.NoError(t, err)
	cfg := fmt.Sprintf(`pool: progs
kind: fit
two_phase: true
programs:
  fit:
    command: [%s, %s]
    timeout: 1m
    env: {PYDIR: %q}
calendar: {start: 2019-01-01, end: 2019-12-31}
tasks:
  - model: {class: Py}
    dataset:
      kwargs:
        segments: {train: [2019-01-01, 2019-03-29], test: [2019-04-01, null]}
generators:
  - {type: rolling, step: 60, rtype: sliding}
collect: {skip: true}
`, py, script, pydir)
	path := filepath.Join(dir, "run.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	return path
}

// TestProgramKind runs a config whose tasks are a Python program of its
// programs: on the in-process workers, in two phases: every task ends done
// with phase two having read phase one's result, and each attempt's stderr
// is the task's log in the store. The workers' work root removes the one a
// killed process left (its lock is free), and is gone after the run.
func TestProgramKind(t *testing.T) {
	cfg, err := job.Load(programConfig(t))
	require.NoError(t, err)
	require.Len(t, cfg.Programs, 1)
	m := manager(t, cfg.Pool)
	parent := t.TempDir()
	gone := filepath.Join(parent, "taskfleet_work-gone")
	require.NoError(t, os.MkdirAll(filepath.Join(gone, "taskfleet-fit-1"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(gone, ".lock"), nil, 0o600))
	res, err := job.Run(context.Background(), job.Options{
		Config: cfg, Manager: m, InProcess: true, Timeout: 2 * time.Minute, PollInterval: 10 * time.Millisecond, WorkParent: parent,
	})
	require.NoError(t, err)
	left, err := os.ReadDir(parent)
	require.NoError(t, err)
	require.Empty(t, left, "the gone root is removed, and the run's own once it ends")
	require.Positive(t, res.Tasks)
	require.Equal(t, res.Tasks, res.Counts["done"])
	require.Nil(t, res.Collected, "collect.skip: the results stay in the pool")
	for tk, err := range m.Query(context.Background(), taskstate.Query{}, taskstate.QueryOptions{Payloads: true}) {
		require.NoError(t, err)
		v, err := m.DecodeRes(tk)
		require.NoError(t, err)
		r := v.(map[string]any)
		require.Equal(t, true, r["scored"], "task %s: %v", tk.ID, r)
		require.Regexp(t, `^2019-`, r["fit"], "task %s: phase one's fit reached phase two: %v", tk.ID, r)
		logs, err := m.Logs(context.Background(), tk.ID, "", 0)
		require.NoError(t, err)
		require.Len(t, logs, 2, "task %s: one log per attempt (one per phase)", tk.ID)
		require.Equal(t, "phase waiting of "+tk.ID+"\n", string(logs[0].Tail))
		require.Equal(t, "phase part_done of "+tk.ID+"\n", string(logs[1].Tail))
	}
}

// TestWorkerCommands checks the fleet command lines printed for a config:
// one per stage, each --program value splitting back into the argv.
func TestWorkerCommands(t *testing.T) {
	cfg, err := job.Parse([]byte(`pool: p
kind: fit
two_phase: true
programs:
  fit: {command: [python3, "my dir/fit.py", "it's"]}
  other: {command: [x], timeout: 2h}
calendar: {start: 2019-01-01, end: 2019-12-31}
tasks: [{dataset: {kwargs: {segments: {train: [2019-01-01, 2019-03-29], test: [2019-04-01, null]}}}}]
generators: [{type: rolling, step: 60}]
`), "run.yaml")
	require.NoError(t, err)
	lines := cfg.WorkerCommands()
	require.Len(t, lines, 2)
	require.True(t, strings.HasPrefix(lines[0], "worker --pool p --kinds fit --program "), lines[0])
	require.Contains(t, lines[0], "--programs PROGRAMS.yaml --to-status part_done  # PROGRAMS.yaml: the programs: map of run.yaml (other)")
	require.Contains(t, lines[1], "--from-status part_done")
	// The shell turns the quoted flag value back into NAME=COMMAND, and the
	// worker splits COMMAND into the same argv.
	words, err := program.SplitCommand(strings.SplitN(lines[0], "  #", 2)[0])
	require.NoError(t, err)
	spec, err := program.ParseFlag(words[6])
	require.NoError(t, err)
	require.Equal(t, []string{"python3", "my dir/fit.py", "it's"}, spec.Command)
}

// TestProgramConfigErrors: a bad programs: entry or a kind that is neither
// built in nor a program names the file and line.
func TestProgramConfigErrors(t *testing.T) {
	base := "pool: p\ncalendar: {start: 2019-01-01, end: 2019-12-31}\ntasks: [{dataset: {kwargs: {segments: {test: [2019-04-01, null]}}}}]\n"
	for in, want := range map[string]string{
		"kind: fit\nprograms:\n  fit: {command: [x], colour: red}\n": "run.yaml:6: programs.fit.colour: unknown key",
		"kind: fit\nprograms:\n  fit: {command: []}\n":               "run.yaml:6: programs.fit.command: empty argv",
		"kind: fitt\nprograms:\n  fit: {command: [x]}\n":             `run.yaml:4: kind: "fitt" is neither a built-in kind`,
		"kind: fit\nprograms:\n  sleep: {command: [x]}\n":            `run.yaml:6: programs.sleep: name "sleep": clashes with the built-in kind`,
	} {
		_, err := job.Parse([]byte(base+in), "run.yaml")
		require.ErrorIs(t, err, job.ErrInvalidConfig, in)
		require.ErrorContains(t, err, want, in)
	}
}
