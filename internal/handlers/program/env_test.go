package program_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/handlers/program"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// dumpEnv is a Python program whose result is its environment, its task
// file and its stdin.
const dumpEnv = `
import json, os, sys
stdin = json.load(sys.stdin)
with open(os.environ["TASKFLEET_TASK_FILE"]) as f:
    task_file = json.load(f)
print("some log line")
print(json.dumps({"env": dict(os.environ), "task_file": task_file, "stdin": stdin,
                  "artifact_dir_exists": os.path.isdir(os.environ["TASKFLEET_ARTIFACT_DIR"]),
                  "cwd": os.getcwd()}))
`

func TestProgramEnvironment(t *testing.T) {
	t.Parallel()
	py := python(t)
	base := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/quant", "LANG=C.UTF-8", "LC_ALL=C.UTF-8",
		"LC_NUMERIC=C", "TZ=UTC", "TMPDIR=" + os.TempDir(),
		"TASKFLEET_STORE=mongodb://admin:secret@db/taskfleet", "TASKFLEET_NATS_PASSWORD=natspw",
		"TASKFLEET_NATS_TOKEN=natstoken", "TASKFLEET_NATS_URL=nats://x", "TASKFLEET_PROGRAMS=evil=sh",
		"LD_PRELOAD=/tmp/evil.so", "LD_LIBRARY_PATH=/tmp", "PYTHONPATH=/tmp/evil", "AWS_SECRET_ACCESS_KEY=aws",
		"OMP_NUM_THREADS=3", "CUDA_VISIBLE_DEVICES=1", "NOT_PASSED=x",
	}
	dir := t.TempDir()
	spec := program.Spec{Name: "dump", Command: []string{py, "-c", dumpEnv}, Dir: dir, Timeout: time.Hour,
		Env: map[string]string{"MODEL_SEED": "7", "LANG": "en_US.UTF-8"}, PassEnv: []string{"OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "UNSET_VAR"}}
	require.NoError(t, spec.Validate([]string{"noop"}))
	opts := testOpts()
	opts.BaseEnv = func() []string { return base }
	opts.Pool = "research"
	def := map[string]any{"lr": 0.1, "command": []any{"sh", "-c", "touch pwned"}, "dir": "/", "env": map[string]any{"LD_PRELOAD": "x"}}
	tk := &taskstate.Task{ID: "65f0aaaabbbbccccddddeeee", Kind: "dump", Attempts: 2, MaxAttempts: 5, ClaimedFrom: taskstate.StatusWaiting}
	res, err := runSpec(t.Context(), spec, opts, tk, def)
	require.NoError(t, err)

	env := map[string]string{}
	for k, v := range res["env"].(map[string]any) {
		env[k] = v.(string)
	}
	// Python itself may add LC_CTYPE (PEP 538 C-locale coercion).
	delete(env, "LC_CTYPE")
	workDir := env["TASKFLEET_WORK_DIR"]
	require.NotEmpty(t, workDir)
	want := map[string]string{
		"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/home/quant", "LANG": "en_US.UTF-8", "LC_ALL": "C.UTF-8",
		"LC_NUMERIC": "C", "TZ": "UTC", "TMPDIR": os.TempDir(),
		"OMP_NUM_THREADS": "3", "CUDA_VISIBLE_DEVICES": "1", "MODEL_SEED": "7",
		"TASKFLEET_TASK_ID": tk.ID, "TASKFLEET_POOL": "research", "TASKFLEET_KIND": "dump",
		"TASKFLEET_ATTEMPT": "2", "TASKFLEET_MAX_ATTEMPTS": "5", "TASKFLEET_PHASE": "waiting",
		"TASKFLEET_TASK_FILE":    filepath.Join(workDir, "task.json"),
		"TASKFLEET_RESULT_FILE":  filepath.Join(workDir, "result.json"),
		"TASKFLEET_WORK_DIR":     workDir,
		"TASKFLEET_ARTIFACT_DIR": filepath.Join(workDir, "artifacts"),
		"TASKFLEET_DEADLINE":     env["TASKFLEET_DEADLINE"],
	}
	require.Equal(t, want, env, "exactly the minimal environment and the task context")
	for _, k := range []string{"TASKFLEET_STORE", "TASKFLEET_NATS_PASSWORD", "TASKFLEET_NATS_TOKEN", "LD_PRELOAD", "PYTHONPATH", "AWS_SECRET_ACCESS_KEY"} {
		require.NotContains(t, env, k)
	}
	deadline, err := time.Parse(time.RFC3339, env["TASKFLEET_DEADLINE"])
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(time.Hour), deadline, time.Minute)

	doc := map[string]any{"id": tk.ID, "pool": "research", "kind": "dump", "attempt": 2.0, "max_attempts": 5.0,
		"phase": "waiting", "def": def, "res": nil}
	require.Equal(t, doc, res["task_file"])
	require.Equal(t, doc, res["stdin"])
	require.Equal(t, true, res["artifact_dir_exists"])
	cwd, err := filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	require.Equal(t, cwd, res["cwd"], "the spec's dir, not the def's")

	_, err = os.Stat(filepath.Join(dir, "pwned"))
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat(workDir)
	require.ErrorIs(t, err, os.ErrNotExist, "the work dir is removed")
}

// TestDefCommandIsData runs a def holding a command through a program that
// ignores it: nothing is executed, in the spec's dir or elsewhere.
func TestDefCommandIsData(t *testing.T) {
	t.Parallel()
	py := python(t)
	dir := t.TempDir()
	spec := program.Spec{Name: "train", Command: []string{py, "-c", "import json,sys; d=json.load(sys.stdin); print(json.dumps({'got': d['def']}))"}, Dir: dir}
	def := map[string]any{"command": []any{"sh", "-c", "touch pwned; touch " + filepath.Join(dir, "pwned2")}}
	res, err := runSpec(t.Context(), spec, testOpts(), task("t1", 1), def)
	require.NoError(t, err)
	require.Equal(t, def, res["got"], "the command arrives as data")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "nothing ran")
}

func TestValidateRejectsWorkerVariables(t *testing.T) {
	t.Parallel()
	ok := program.Spec{Name: "train", Command: []string{"python3"}}
	require.NoError(t, ok.Validate(nil))
	for name, s := range map[string]program.Spec{
		`env: "TASKFLEET_STORE"`:                      {Name: "train", Command: []string{"python3"}, Env: map[string]string{"TASKFLEET_STORE": "x"}},
		`env: "taskfleet_pool"`:                       {Name: "train", Command: []string{"python3"}, Env: map[string]string{"taskfleet_pool": "x"}},
		`pass_env: "TASKFLEET_NATS_TOKEN"`:            {Name: "train", Command: []string{"python3"}, PassEnv: []string{"TASKFLEET_NATS_TOKEN"}},
		`env: "A=B": not a variable name`:             {Name: "train", Command: []string{"python3"}, Env: map[string]string{"A=B": "x"}},
		`pass_env: "": not a variable name`:           {Name: "train", Command: []string{"python3"}, PassEnv: []string{""}},
		`timeout: -1s`:                                {Name: "train", Command: []string{"python3"}, Timeout: -time.Second},
		`command: empty argv`:                         {Name: "train", Command: []string{""}},
		`name "Train"`:                                {Name: "Train", Command: []string{"python3"}},
		`name "noop": clashes with the built-in kind`: {Name: "noop", Command: []string{"python3"}},
	} {
		err := s.Validate([]string{"noop", "sleep", "linear"})
		require.ErrorIs(t, err, program.ErrBadSpec, name)
		require.ErrorContains(t, err, name)
		require.True(t, strings.HasPrefix(err.Error(), "bad program: program "), err.Error())
	}
}
