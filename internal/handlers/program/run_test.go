package program_test

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
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func TestResult(t *testing.T) {
	t.Parallel()

	t.Run("StdinAndTaskFile", func(t *testing.T) {
		t.Parallel()
		res, err := runSpec(t.Context(), sh(`printf '{"stdin": %s, "file": %s}\n' "$(cat)" "$(cat "$TASKFLEET_TASK_FILE")"`),
			testOpts(), task("t1", 2), map[string]any{"lr": 0.01, "command": []any{"rm", "-rf", "/"}})
		require.NoError(t, err)
		want := map[string]any{"id": "t1", "pool": "p1", "kind": "sh", "attempt": 2.0, "max_attempts": 3.0,
			"phase": "waiting", "def": map[string]any{"lr": 0.01, "command": []any{"rm", "-rf", "/"}}, "res": nil}
		require.Equal(t, want, res["stdin"])
		require.Equal(t, want, res["file"])
	})

	t.Run("ResultFileWinsOverStdout", func(t *testing.T) {
		t.Parallel()
		res, err := runSh(t, `echo '{"from": "file"}' > "$TASKFLEET_RESULT_FILE"; echo '{"from": "stdout"}'`)
		require.NoError(t, err)
		require.Equal(t, map[string]any{"from": "file"}, res)
	})

	t.Run("LastJSONObjectLine", func(t *testing.T) {
		t.Parallel()
		res, err := runSh(t, `echo "loading..."; echo '{"ic": 0.01}'; echo '  {"ic": 0.05}  '; echo '[1]'; echo 'done'; printf '{"not": '`)
		require.NoError(t, err)
		require.Equal(t, map[string]any{"ic": 0.05}, res)
	})

	t.Run("UnterminatedLastLine", func(t *testing.T) {
		t.Parallel()
		res, err := runSh(t, `printf '{"n": 1}'`)
		require.NoError(t, err)
		require.Equal(t, map[string]any{"n": 1.0}, res)
	})

	t.Run("NoResultIsEmpty", func(t *testing.T) {
		t.Parallel()
		res, err := runSh(t, `echo 'accuracy: 0.9'`)
		require.NoError(t, err)
		require.Equal(t, map[string]any{}, res)
	})

	t.Run("Dir", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		spec := sh(`printf '{"pwd": "%s"}\n' "$(pwd -P)"`)
		spec.Dir = dir
		res, err := runSpec(t.Context(), spec, testOpts(), task("t1", 1), nil)
		require.NoError(t, err)
		want, err := filepath.EvalSymlinks(dir)
		require.NoError(t, err)
		require.Equal(t, want, res["pwd"])
	})

	t.Run("WorkDirIsFreshAndRemoved", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		opts := testOpts()
		opts.WorkRoot = root
		script := `ls -A "$TASKFLEET_WORK_DIR" | tr '\n' ' ' > "$TASKFLEET_ARTIFACT_DIR/ls"; printf '{"work": "%s", "ls": "%s", "art": "%s"}\n' "$TASKFLEET_WORK_DIR" "$(cat "$TASKFLEET_ARTIFACT_DIR/ls")" "$TASKFLEET_ARTIFACT_DIR"`
		res1, err := runSpec(t.Context(), sh(script), opts, task("t1", 1), nil)
		require.NoError(t, err)
		res2, err := runSpec(t.Context(), sh(script), opts, task("t1", 2), nil)
		require.NoError(t, err)
		require.NotEqual(t, res1["work"], res2["work"], "one directory per attempt")
		require.Equal(t, "artifacts task.json ", res1["ls"])
		require.Equal(t, filepath.Join(res1["work"].(string), "artifacts"), res1["art"])
		require.Equal(t, root, filepath.Dir(res1["work"].(string)))
		entries, err := os.ReadDir(root)
		require.NoError(t, err)
		require.Empty(t, entries, "work directories are removed")
	})

	for _, tc := range []struct {
		name, script, msg string
	}{
		{"BadResultFile", `echo '{' > "$TASKFLEET_RESULT_FILE"; echo '{}'`, `program sh: program: bad result: TASKFLEET_RESULT_FILE: not JSON`},
		{"ResultFileNotAnObject", `echo '[1]' > "$TASKFLEET_RESULT_FILE"`, `program sh: program: bad result: TASKFLEET_RESULT_FILE: want a JSON object, got a list`},
		{"ResultFileTooLarge", `head -c 16777217 /dev/zero > "$TASKFLEET_RESULT_FILE"`, `TASKFLEET_RESULT_FILE: larger than 16777216 bytes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := runSh(t, tc.script)
			require.ErrorIs(t, err, program.ErrBadResult)
			require.ErrorContains(t, err, tc.msg)
		})
	}
}

func TestStdoutLog(t *testing.T) {
	t.Parallel()

	t.Run("ResultLineIsNotLogged", func(t *testing.T) {
		t.Parallel()
		sink := &program.MemorySink{}
		opts := testOpts()
		opts.LogSink = sink
		res, err := runSpec(t.Context(), sh(`echo a; echo '{"old": 1}'; echo b >&2; echo '{"res": 2}'; echo c`), opts, task("t1", 1), nil)
		require.NoError(t, err)
		require.Equal(t, map[string]any{"res": 2.0}, res)
		l, ok := sink.Get(program.LogRef{Pool: "p1", ID: "t1", Phase: taskstate.StatusWaiting, Attempt: 1})
		require.True(t, ok)
		require.NotContains(t, string(l.Tail), `"res"`)
		for _, s := range []string{"a\n", "b\n", "c\n", "{\"old\": 1}\n"} {
			require.Contains(t, string(l.Tail), s)
		}
		require.EqualValues(t, len(l.Tail), l.Total)
	})

	t.Run("HugeLineAndBinaryAreBounded", func(t *testing.T) {
		t.Parallel()
		sink := &program.MemorySink{}
		opts := testOpts()
		opts.LogSink = sink
		opts.MaxLogBytes = 1000
		// A 20 MiB line that looks like JSON, 3 MiB of binary without a
		// newline, then a result and a last line.
		script := `{ printf '{'; head -c 20971520 /dev/zero | tr '\0' 'x'; echo; head -c 3145728 /dev/urandom; echo; echo '{"ok": true}'; echo end; } 2>&1`
		res, err := runSpec(t.Context(), sh(script), opts, task("t1", 1), nil)
		require.NoError(t, err)
		require.Equal(t, map[string]any{"ok": true}, res)
		l, _ := sink.Get(program.LogRef{Pool: "p1", ID: "t1", Phase: taskstate.StatusWaiting, Attempt: 1})
		require.Len(t, l.Tail, 1000)
		require.True(t, strings.HasSuffix(string(l.Tail), "\nend\n"))
		require.EqualValues(t, 20971520+1+1+3145728+1+4, l.Total)
	})
}

func TestFailure(t *testing.T) {
	t.Parallel()

	t.Run("ExitKeepsLogTail", func(t *testing.T) {
		t.Parallel()
		sink := &program.MemorySink{}
		opts := testOpts()
		opts.LogSink = sink
		_, err := runSpec(t.Context(), sh(`i=1; while [ $i -le 30 ]; do echo "line $i" >&2; i=$((i+1)); done; exit 3`), opts, task("t9", 2), nil)
		var ee *program.ExitError
		require.ErrorAs(t, err, &ee)
		require.Equal(t, 3, ee.Code)
		require.Equal(t, "sh", ee.Program)
		var want []string
		for i := 11; i <= 30; i++ {
			want = append(want, fmt.Sprintf("line %d", i))
		}
		require.Equal(t, strings.Join(want, "\n"), ee.LogTail, "the last 20 lines")
		require.ErrorContains(t, err, "program sh: exit status 3; log tail:\nline 11\n")
		l, ok := sink.Get(program.LogRef{Pool: "p1", ID: "t9", Phase: taskstate.StatusWaiting, Attempt: 2})
		require.True(t, ok)
		require.True(t, strings.HasPrefix(string(l.Tail), "line 1\nline 2\n"), "the sink has the whole log")
		require.True(t, strings.HasSuffix(string(l.Tail), "line 30\n"))
	})

	t.Run("TailIsCappedAt4KiB", func(t *testing.T) {
		t.Parallel()
		_, err := runSh(t, `for i in 1 2 3 4 5 6 7 8 9; do printf "%01000d\n" $i >&2; done; echo last >&2; exit 1`)
		var ee *program.ExitError
		require.ErrorAs(t, err, &ee)
		require.LessOrEqual(t, len(ee.LogTail), 4096)
		require.True(t, strings.HasPrefix(ee.LogTail, "..."))
		require.True(t, strings.HasSuffix(ee.LogTail, "\nlast"))
	})

	t.Run("UnterminatedLastLine", func(t *testing.T) {
		t.Parallel()
		_, err := runSh(t, `printf 'Traceback: boom' >&2; exit 1`)
		var ee *program.ExitError
		require.ErrorAs(t, err, &ee)
		require.Equal(t, "Traceback: boom", ee.LogTail)
	})

	t.Run("BinaryTailIsValidUTF8", func(t *testing.T) {
		t.Parallel()
		_, err := runSh(t, `printf 'ok \377\376 end' >&2; exit 1`)
		var ee *program.ExitError
		require.ErrorAs(t, err, &ee)
		require.Equal(t, "ok \uFFFD end", ee.LogTail)
	})

	t.Run("CommandNotFound", func(t *testing.T) {
		t.Parallel()
		_, err := runSpec(t.Context(), program.Spec{Name: "nope", Command: []string{"taskfleet-no-such-program"}}, testOpts(), task("t1", 1), nil)
		require.Error(t, err)
		require.ErrorContains(t, err, "taskfleet-no-such-program")
	})

	t.Run("CancelledBeforeStart", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := runSpec(ctx, sh("true"), testOpts(), task("t1", 1), nil)
		require.ErrorIs(t, err, context.Canceled)
	})
}

func TestLogIsStreamed(t *testing.T) {
	t.Parallel()
	// The program logs a line, then blocks until the test has seen that line
	// in the sink, which proves the log is flushed while the program runs.
	gate := filepath.Join(t.TempDir(), "go")
	sink := &program.MemorySink{}
	opts := testOpts()
	opts.LogSink = sink
	spec := sh(`echo "epoch 1" >&2; while [ ! -e "$GATE" ]; do sleep 0.01; done; echo '{"done": true}'`)
	spec.Env = map[string]string{"GATE": gate}
	spec.Timeout = time.Minute

	done := make(chan error, 1)
	go func() {
		_, err := runSpec(t.Context(), spec, opts, task("t1", 1), nil)
		done <- err
	}()
	ref := program.LogRef{Pool: "p1", ID: "t1", Phase: taskstate.StatusWaiting, Attempt: 1}
	require.Eventually(t, func() bool {
		l, ok := sink.Get(ref)
		return ok && string(l.Tail) == "epoch 1\n" && l.Total == 8
	}, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("the handler did not return after the gate opened")
	}
}

func TestTwoPhase(t *testing.T) {
	t.Parallel()
	py := python(t)
	// Phase one fits, phase two finishes from phase one's result (Qlib's
	// DelayTrainerRM); the same program, told apart by TASKFLEET_PHASE.
	script := `
import json, os, sys
sys.path.insert(0, os.environ["PYDIR"])
import taskfleet_task
task = taskfleet_task.load()
assert task.phase == os.environ["TASKFLEET_PHASE"]
if task.phase == "waiting":
    assert task.res is None
    taskfleet_task.done({"fit": task.def_["x"] * 10})
else:
    taskfleet_task.done({"final": task.res["fit"] + 1, "x": task.def_["x"], "attempt": task.attempt})
`
	pydir, err := filepath.Abs("../../../python")
	require.NoError(t, err)
	spec := program.Spec{Name: "train", Command: []string{py, "-c", script}, Env: map[string]string{"PYDIR": pydir}}
	def := map[string]any{"x": 4.0, "command": []any{"sh", "-c", "exit 1"}}
	tk := &taskstate.Task{ID: "t2", Kind: "train", Attempts: 1, MaxAttempts: 3, ClaimedFrom: taskstate.StatusWaiting}
	res1, err := runSpec(t.Context(), spec, testOpts(), tk, def)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"fit": 40.0}, res1)

	// Phase two as the Runner gives it: the claimed task holds the stored
	// def and result, and the param is the decoded result.
	var codec taskstate.Codec
	tk.Def, err = codec.Encode(def)
	require.NoError(t, err)
	tk.Res, err = codec.Encode(res1)
	require.NoError(t, err)
	tk.ClaimedFrom, tk.Attempts = taskstate.StatusPartDone, 2
	param, err := codec.Decode(tk.Res)
	require.NoError(t, err)
	res2, err := runSpec(t.Context(), spec, testOpts(), tk, param)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"final": 41.0, "x": 4.0, "attempt": 2.0}, res2)
}
