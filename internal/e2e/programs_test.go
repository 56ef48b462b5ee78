//go:build linux

package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/fleettest"
)

// The programs of these tests are Python scripts written into the test's
// directory; they import python/taskfleet_task.py through the PYTHONPATH
// their programs file sets.

const python3 = "/usr/bin/python3"

// pwnedDef is a def trying to run a command: data for every kind.
var pwnedDef = map[string]any{"command": []any{"sh", "-c", "touch pwned"}}

// programsFile writes the scripts (name → source) into a new directory and
// a programs file registering each as the program of its name, with
// PYTHONPATH and extra set in its env, and returns the file.
func programsFile(t *testing.T, scripts map[string]string, extra string) string {
	t.Helper()
	if _, err := os.Stat(python3); err != nil {
		t.Skip("no " + python3)
	}
	pydir, err := filepath.Abs(filepath.Join("..", "..", "python"))
	require.NoError(t, err)
	dir := t.TempDir()
	var yaml strings.Builder
	for name, src := range scripts {
		script := filepath.Join(dir, name+".py")
		require.NoError(t, os.WriteFile(script, []byte(src), 0o600))
		fmt.Fprintf(&yaml, "%s:\n  command: [%s, %s]\n  env: {PYTHONPATH: %q}\n%s", name, python3, script, pydir, extra)
	}
	path := filepath.Join(dir, "programs.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml.String()), 0o600))
	return path
}

// noPwned fails the test if a pwned file exists in any of dirs.
func noPwned(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		_, err := os.Stat(filepath.Join(d, "pwned"))
		require.True(t, os.IsNotExist(err), "%s/pwned exists: a def's command ran", d)
	}
}

// TestDefCommandRunsNothing: a def with a command is data. A worker with
// default flags has no exec kind, so the exec task is never claimed, and
// the noop task hands the command back as data; `exec` is not a kind.
func TestDefCommandRunsNothing(t *testing.T) {
	c := newCluster(t)
	wdir := t.TempDir()
	w := c.startWorkerIn("plain", wdir, nil)
	ids := c.create([]spec{{Kind: "exec", Def: pwnedDef}, {Kind: "noop", Def: pwnedDef}})
	execID, noopID := ids[0], ids[1]

	fleettest.Eventually(t, 20*time.Second, func() error {
		if tk := c.get(noopID)[0]; tk.Status != "done" {
			return fmt.Errorf("noop task: %s", describe([]task{tk}))
		}
		return nil
	})
	noop := c.get(noopID)[0]
	var res map[string]any
	require.NoError(t, json.Unmarshal(noop.Res, &res))
	require.Equal(t, pwnedDef, res, "noop returns the def, a command included, as data")
	ex := c.get(execID)[0]
	require.Equal(t, "waiting", ex.Status, "no worker has the exec kind: %s", describe([]task{ex}))
	require.Zero(t, ex.Attempts, describe([]task{ex}))
	require.Equal(t, 1.0, w.metric(t, "taskfleet_tasks_committed_total"), "the worker committed the noop task only")
	cwd, err := os.Getwd()
	require.NoError(t, err)
	noPwned(t, wdir, c.dir, cwd)

	r := fleettest.Run(t, fleettest.Cmd{Path: c.bin.Worker, Args: []string{"--kinds", "exec"}, Env: c.env()})
	require.Equal(t, 2, r.Code, r.String())
	require.Contains(t, logText(r.Stderr), `--kinds: unknown kind "exec" (this worker has linear, noop, sleep)`)
}

const envDumpScript = `
import json, os, sys
import taskfleet_task
stdin = sys.stdin.read()
task = taskfleet_task.load()
with open(os.environ["TASKFLEET_TASK_FILE"]) as f:
    task_file = f.read()
print("dumping the environment of task %s" % task.id, file=sys.stderr)
taskfleet_task.done({"env": dict(os.environ), "stdin": stdin, "task_file": task_file, "def": task.def_})
`

// TestProgramEnvironment runs a Python program that dumps its environment
// as its result on a worker holding secrets and LD_PRELOAD: the program
// sees none of them nor any other variable of the worker but the few
// passed, sees every variable of the task context, and reads the task
// document from the task file and stdin. A command in the def stays data.
func TestProgramEnvironment(t *testing.T) {
	c := newCluster(t)
	file := programsFile(t, map[string]string{"envdump": envDumpScript}, "  timeout: 5m\n  pass_env: [OMP_NUM_THREADS]\n")
	preload := "/nonexistent/taskfleet-preload.so" // the dynamic loader ignores it with a warning
	wdir := t.TempDir()
	secrets := []string{"TASKFLEET_NATS_PASSWORD=nats-pass-s3cret", "TASKFLEET_NATS_TOKEN=nats-token-s3cret"}
	w := c.startWorkerIn("envdump", wdir, append(secrets, "LD_PRELOAD="+preload, "OMP_NUM_THREADS=3", "WORKER_ONLY=private"),
		"--programs", file)
	id := c.create([]spec{{Kind: "envdump", Def: pwnedDef, MaxAttempts: 3}})[0]
	c.waitAll(time.Minute)

	tk := c.get(id)[0]
	require.Equal(t, "done", tk.Status, describe([]task{tk}))
	var res struct {
		Env      map[string]string `json:"env"`
		Stdin    string            `json:"stdin"`
		TaskFile string            `json:"task_file"`
		Def      map[string]any    `json:"def"`
	}
	require.NoError(t, json.Unmarshal(tk.Res, &res), "result %s", tk.Res)
	env := res.Env
	for _, k := range []string{"TASKFLEET_STORE", "TASKFLEET_NATS_PASSWORD", "TASKFLEET_NATS_TOKEN", "TASKFLEET_POOL_", "TASKFLEET_LOG_FORMAT", "LD_PRELOAD", "WORKER_ONLY"} {
		require.NotContains(t, env, k, "the program sees the worker's %s", k)
	}
	for _, v := range []string{"nats-pass-s3cret", "nats-token-s3cret", c.store} {
		require.NotContains(t, string(tk.Res), v, "a secret of the worker reached the result")
	}
	require.Equal(t, "3", env["OMP_NUM_THREADS"], "pass_env")
	require.NotEmpty(t, env["PATH"])
	require.Contains(t, env["PYTHONPATH"], "python", "the program's configured env")

	want := map[string]string{
		"TASKFLEET_TASK_ID": id, "TASKFLEET_POOL": c.pool, "TASKFLEET_KIND": "envdump",
		"TASKFLEET_ATTEMPT": "1", "TASKFLEET_MAX_ATTEMPTS": "3", "TASKFLEET_PHASE": "waiting",
	}
	for k, v := range want {
		require.Equal(t, v, env[k], k)
	}
	workDir := env["TASKFLEET_WORK_DIR"]
	require.NotEmpty(t, workDir)
	for _, k := range []string{"TASKFLEET_TASK_FILE", "TASKFLEET_RESULT_FILE", "TASKFLEET_ARTIFACT_DIR"} {
		require.True(t, strings.HasPrefix(env[k], workDir+"/"), "%s=%q is in the work dir %q", k, env[k], workDir)
	}
	deadline, err := time.Parse(time.RFC3339, env["TASKFLEET_DEADLINE"])
	require.NoError(t, err, "TASKFLEET_DEADLINE")
	require.WithinDuration(t, time.Now().Add(5*time.Minute), deadline, time.Minute)
	var ctxVars []string
	for k := range env {
		if strings.HasPrefix(k, "TASKFLEET_") {
			ctxVars = append(ctxVars, k)
		}
	}
	require.Len(t, ctxVars, 11, "the task context and nothing else of TASKFLEET_*: %v", ctxVars)
	_, err = os.Stat(workDir)
	require.True(t, os.IsNotExist(err), "the work dir %s is removed after the attempt", workDir)

	require.Equal(t, res.TaskFile, res.Stdin, "stdin holds the task document too")
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(res.TaskFile), &doc))
	require.Equal(t, map[string]any{
		"id": id, "pool": c.pool, "kind": "envdump", "attempt": 1.0, "max_attempts": 3.0,
		"phase": "waiting", "def": pwnedDef, "res": nil,
	}, doc)
	require.Equal(t, pwnedDef, res.Def)
	cwd, err := os.Getwd()
	require.NoError(t, err)
	noPwned(t, wdir, c.dir, cwd, workDir)
	for _, v := range []string{"nats-pass-s3cret", "nats-token-s3cret"} {
		require.NotContains(t, w.Output(), v, "a secret in the worker's output")
	}
}

const twoPhaseScript = `
import os, sys
import taskfleet_task
task = taskfleet_task.load()
print("phase %s attempt %d" % (task.phase, task.attempt), file=sys.stderr)
if task.phase == "waiting":
    assert task.res is None, task.res
    taskfleet_task.done({"fit": task.def_["x"] * 10, "phase_one_attempt": task.attempt})
else:
    taskfleet_task.done({"final": task.res["fit"] + 1, "read": task.res, "x": task.def_["x"],
                         "phase": task.phase, "env_phase": os.environ["TASKFLEET_PHASE"]})
`

// TestProgramTwoPhase runs Qlib's DelayTrainerRM flow through a Python
// program: one worker fits (waiting → part_done), another finishes from
// phase one's result (part_done → done), with the def still at hand.
func TestProgramTwoPhase(t *testing.T) {
	c := newCluster(t)
	file := programsFile(t, map[string]string{"fit": twoPhaseScript}, "")
	c.startWorkerIn("phase1", "", nil, "--programs", file, "--to-status", "part_done")
	c.startWorkerIn("phase2", "", nil, "--programs", file, "--from-status", "part_done")
	id := c.create([]spec{{Kind: "fit", Def: map[string]any{"x": 4}}})[0]
	var tk task
	fleettest.Eventually(t, time.Minute, func() error {
		if tk = c.get(id)[0]; tk.Status != "done" {
			return fmt.Errorf("not done: %s", describe([]task{tk}))
		}
		return nil
	})
	var res map[string]any
	require.NoError(t, json.Unmarshal(tk.Res, &res))
	require.Equal(t, map[string]any{
		"final": 41.0, "read": map[string]any{"fit": 40.0, "phase_one_attempt": 1.0}, "x": 4.0,
		"phase": "part_done", "env_phase": "part_done",
	}, res)
}

const sleeperScript = `
import os, subprocess, time
import taskfleet_task
task = taskfleet_task.load()
if task.attempt == 1:
    child = subprocess.Popen(["sleep", "600"])
    piddir = os.environ["PIDDIR"]
    with open(os.path.join(piddir, ".pids"), "w") as f:
        f.write("%d %d %d" % (os.getpgid(0), os.getpid(), child.pid))
    os.replace(os.path.join(piddir, ".pids"), os.path.join(piddir, "pids"))
    time.sleep(600)
taskfleet_task.done({"attempt": task.attempt})
`

// alive reports whether pid is a live process (not a zombie).
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	return i >= 0 && i+2 < len(data) && data[i+2] != 'Z' && data[i+2] != 'X'
}

// groupMembers returns the live processes of process group pgid.
func groupMembers(pgid int) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")) //nolint:gocritic // an absolute path is meant
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(data, ')')
		f := strings.Fields(string(data[i+1:])) // state ppid pgrp ...
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// programPids waits for the sleeper program of worker w to write its pids
// (its group, itself, its child), checks they are running and returns them.
func programPids(t *testing.T, piddir string, w *worker) []int {
	t.Helper()
	var pids []int
	fleettest.Eventually(t, 30*time.Second, func() error {
		data, err := os.ReadFile(filepath.Join(piddir, "pids"))
		if err != nil {
			return fmt.Errorf("the program has not written its pids: %v", err)
		}
		pids = nil
		for _, f := range strings.Fields(string(data)) {
			n, err := strconv.Atoi(f)
			require.NoError(t, err)
			pids = append(pids, n)
		}
		return nil
	})
	require.Len(t, pids, 3)
	pgid := pids[0]
	t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) }) // should the test fail
	require.NotEqual(t, w.PID(), pgid, "the program runs in a process group of its own")
	for _, pid := range pids {
		require.True(t, alive(pid), "pid %d of the program's group is running", pid)
	}
	w.requireBusy(t, 1)
	return pids
}

// requireGone waits up to timeout until no process of the program's group
// (pids[0]) nor any of pids is alive.
func requireGone(t *testing.T, timeout time.Duration, pids []int) {
	t.Helper()
	fleettest.Eventually(t, timeout, func() error {
		if left := groupMembers(pids[0]); len(left) > 0 {
			return fmt.Errorf("processes of the program's group %d are alive: %v", pids[0], left)
		}
		for _, pid := range pids {
			if alive(pid) {
				return fmt.Errorf("pid %d of the program is alive", pid)
			}
		}
		return nil
	})
}

// TestKillWorkerRunningProgram kills a worker with SIGKILL while its
// program (and the program's child) sleeps: within a second nothing of the
// program's process group is alive, and after the lease the task is reaped
// and done once, by another worker. The attempt's work directory outlives
// the killed worker until the next worker starts and removes it.
func TestKillWorkerRunningProgram(t *testing.T) {
	c := newCluster(t)
	piddir := t.TempDir()
	file := programsFile(t, map[string]string{"sleeper": sleeperScript}, "  pass_env: [PIDDIR]\n")
	env := []string{"PIDDIR=" + piddir}
	victim := c.startWorkerIn("victim", "", env, "--programs", file, "--lease", "1s")
	id := c.create([]spec{{Kind: "sleeper", Def: map[string]any{"n": 1}}})[0]

	pids := programPids(t, piddir, victim)
	victim.Signal(t, syscall.SIGKILL) // the worker only, not its group
	victim.WaitExit(t, fleettest.ExitTimeout)
	requireGone(t, time.Second, pids)
	left, err := filepath.Glob(filepath.Join(c.tmp(), "taskfleet_work-*", "taskfleet-sleeper-*", "task.json"))
	require.NoError(t, err)
	require.Len(t, left, 1, "the killed worker's attempt left its work directory")
	victimRoot := filepath.Dir(filepath.Dir(left[0]))

	rescuer := c.startWorkerIn("rescuer", "", env, "--programs", file)
	require.NoDirExists(t, victimRoot, "the next worker removes a killed worker's work root")
	rescuer.WaitLog(t, fleettest.StartTimeout, "the sweep logged", fleettest.LogMsg("removed the work directories of worker processes that are gone"))
	var tk task
	fleettest.Eventually(t, 30*time.Second, func() error {
		if tk = c.get(id)[0]; tk.Status != "done" {
			return fmt.Errorf("not done: %s", describe([]task{tk}))
		}
		return nil
	})
	require.Equal(t, 2, tk.Attempts, describe([]task{tk}))
	require.JSONEq(t, `{"attempt": 2}`, string(tk.Res))
	require.Equal(t, 1.0, rescuer.metric(t, "taskfleet_tasks_committed_total"), "done once, by the rescuer")
	require.Equal(t, map[string]int{"waiting": 0, "running": 0, "part_done": 0, "done": 1, "failed": 0}, c.stat())
}

const stubbornScript = `
import os, signal, subprocess, sys, time
import taskfleet_task
task = taskfleet_task.load()
signal.signal(signal.SIGTERM, lambda *_: print("SIGTERM ignored", file=sys.stderr, flush=True))
child = subprocess.Popen(["sleep", "600"])
piddir = os.environ["PIDDIR"]
with open(os.path.join(piddir, ".pids"), "w") as f:
    f.write("%d %d %d" % (os.getpgid(0), os.getpid(), child.pid))
os.replace(os.path.join(piddir, ".pids"), os.path.join(piddir, "pids"))
while True:
    time.sleep(1)
`

// TestDrainStopsProgram sends SIGTERM to a worker whose program ignores
// SIGTERM: the program runs on for the drain timeout, gets SIGTERM, then
// SIGKILL after the program grace; the worker exits 0 with nothing of the
// program's group left and the task handed back to waiting.
func TestDrainStopsProgram(t *testing.T) {
	c := newCluster(t)
	piddir := t.TempDir()
	file := programsFile(t, map[string]string{"stubborn": stubbornScript}, "  pass_env: [PIDDIR]\n")
	const drain, grace = 300 * time.Millisecond, 500 * time.Millisecond
	w := c.startWorkerIn("drained", "", []string{"PIDDIR=" + piddir}, "--programs", file,
		"--drain-timeout", drain.String(), "--program-grace", grace.String())
	id := c.create([]spec{{Kind: "stubborn", Def: map[string]any{"n": 1}}})[0]
	pids := programPids(t, piddir, w)

	start := time.Now()
	w.Signal(t, syscall.SIGTERM)
	require.Equal(t, 0, w.WaitExit(t, fleettest.ExitTimeout), w.Dump())
	require.GreaterOrEqual(t, time.Since(start), drain+grace, "the program had the drain time, then the grace after SIGTERM")
	requireGone(t, time.Second, pids)
	tk := c.get(id)[0]
	require.Equal(t, "waiting", tk.Status, describe([]task{tk}))
}

// TestWorkerProgramErrors: a bad --program, TASKFLEET_PROGRAMS or
// --programs file makes the worker exit 2 naming the flag (or variable),
// the file and the line.
func TestWorkerProgramErrors(t *testing.T) {
	c := newCluster(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	unknown := write("unknown.yaml", "train:\n  command: [python3, t.py]\n  colour: red\n")
	empty := write("empty.yaml", "train:\n  timeout: 1h\n  command: []\n")
	duration := write("duration.yaml", "train:\n  command: [python3, t.py]\n  timeout: soon\n")
	clash := write("clash.yaml", "train:\n  command: [python3, t.py]\nlinear:\n  command: [python3, l.py]\n")
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"--programs", unknown}, "--programs: bad program: " + unknown + ":3: train.colour: unknown key"},
		{nil, []string{"--programs", empty}, "--programs: bad program: " + empty + ":3: train.command: empty argv"},
		{nil, []string{"--programs", duration}, "--programs: bad program: " + duration + ":3: train.timeout: soon: want a Go duration"},
		{nil, []string{"--programs", clash}, "--programs: bad program: " + clash + `:3: linear: name "linear": clashes with the built-in kind "linear"`},
		{[]string{"TASKFLEET_PROGRAMS_FILE=" + unknown}, nil, "TASKFLEET_PROGRAMS_FILE: bad program: " + unknown + ":3: train.colour"},
		{nil, []string{"--program", "train="}, `--program "train=": command: empty argv`},
		{nil, []string{"--program", "sleep=python3 s.py"}, `--program "sleep=python3 s.py": bad program: program "sleep": name "sleep": clashes with the built-in kind "sleep"`},
		{[]string{"TASKFLEET_PROGRAMS=a=x;noop=y"}, nil, `TASKFLEET_PROGRAMS: bad program: program "noop": name "noop": clashes`},
		{nil, []string{"--program-grace", "soon"}, `invalid value "soon" for flag -program-grace`},
	} {
		r := fleettest.Run(t, fleettest.Cmd{Path: c.bin.Worker, Args: tc.args, Env: c.env(tc.env...)})
		require.Equal(t, 2, r.Code, "%v %v: %s", tc.env, tc.args, r)
		require.Contains(t, logText(r.Stderr), tc.want, "%v %v", tc.env, tc.args)
	}
}

const chattyScript = `
import os, sys, time
import taskfleet_task
task = taskfleet_task.load()
print("epoch 1 of", task.id, file=sys.stderr, flush=True)
gate = task.def_["gate"]
while not os.path.exists(gate):
    time.sleep(0.01)
print("epoch 2", file=sys.stderr, flush=True)
print("diverged: loss is nan", file=sys.stderr, flush=True)
sys.exit(3)
`

// TestProgramLogs: `dispatcher logs -f` follows a real program's stderr
// while it runs and exits when the task fails; afterwards `dispatcher logs`
// prints the failed attempt's whole log and last_error ends with its tail.
func TestProgramLogs(t *testing.T) {
	c := newCluster(t)
	file := programsFile(t, map[string]string{"chatty": chattyScript}, "")
	c.startWorkerIn("logger", "", nil, "--programs", file)
	gate := filepath.Join(t.TempDir(), "gate")
	id := c.create([]spec{{Kind: "chatty", Def: map[string]any{"gate": gate}, MaxAttempts: 1}})[0]

	// The log reaches the store within a flush interval of being written.
	fleettest.Eventually(t, time.Minute, func() error {
		if r := c.dispatcher("logs", "--id", id); !strings.Contains(r.Stdout, "epoch 1 of "+id) {
			return fmt.Errorf("no epoch 1 yet: %s", r)
		}
		return nil
	})
	follow := c.start("logs -f", c.bin.Dispatcher, c.env(), "logs", "--id", id, "-f", "--interval", "50ms")
	follow.WaitOutput(t, time.Minute, fleettest.Stdout, "epoch 1 of "+id)
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	require.Equal(t, 0, follow.WaitExit(t, time.Minute), follow.Dump())
	require.Equal(t, 1, strings.Count(follow.Stdout(), "epoch 1 of "+id), "the follower printed a line twice\n%s", follow.Stdout())
	require.Contains(t, follow.Stdout(), "diverged: loss is nan", "the follower missed the end\n%s", follow.Stdout())

	tk := c.get(id)[0]
	require.Equal(t, "failed", tk.Status, describe([]task{tk}))
	require.Contains(t, tk.LastError, "diverged: loss is nan")
	out := c.mustDispatcher("logs", "--id", id)
	require.Equal(t, "epoch 1 of "+id+"\nepoch 2\ndiverged: loss is nan\n", out)
}
