package exec_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/taskfleet/taskfleet/internal/handlers/exec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sh returns a def running script with /bin/sh.
func sh(script string) exec.Def {
	return exec.Def{Command: []string{"sh", "-c", script}}
}

// logger returns a logger whose entries the test can read.
func logger() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

func stderrLines(logs *observer.ObservedLogs) []string {
	var out []string
	for _, e := range logs.FilterMessage("stderr").All() {
		out = append(out, e.ContextMap()["line"].(string))
	}
	return out
}

func TestRunResult(t *testing.T) {
	t.Parallel()

	t.Run("StdoutAndTaskDocument", func(t *testing.T) {
		t.Parallel()
		doc := `{"command":["sh","-c","ignored"],"lr":0.01,"layers":[64,32],"name":"m1"}`
		def := sh(`printf '{"stdin": %s, "file": %s, "extra": "%s"}' "$(cat)" "$(cat "$TASKFLEET_TASK_FILE")" "$EXTRA"`)
		def.Env = []string{"EXTRA=hello"}
		def.Task = json.RawMessage(doc)
		res, err := exec.Run(t.Context(), def, nil)
		require.NoError(t, err)
		var want map[string]any
		require.NoError(t, json.Unmarshal([]byte(doc), &want))
		require.Equal(t, want, res["stdin"], "the document arrives on stdin")
		require.Equal(t, want, res["file"], "and in TASKFLEET_TASK_FILE")
		require.Equal(t, "hello", res["extra"])
	})

	t.Run("DefaultDocument", func(t *testing.T) {
		t.Parallel()
		def := sh(`cat`)
		def.Timeout = "1m"
		res, err := exec.Run(t.Context(), def, nil)
		require.NoError(t, err)
		require.Equal(t, map[string]any{"command": []any{"sh", "-c", "cat"}, "timeout": "1m"}, res)
	})

	t.Run("ResultFileWinsOverStdout", func(t *testing.T) {
		t.Parallel()
		res, err := exec.Run(t.Context(), sh(`echo '{"from": "file"}' > "$TASKFLEET_RESULT_FILE"; echo '{"from": "stdout"}'`), nil)
		require.NoError(t, err)
		require.Equal(t, map[string]any{"from": "file"}, res)
	})

	t.Run("LastLineOfStdout", func(t *testing.T) {
		t.Parallel()
		res, err := exec.Run(t.Context(), sh(`echo "loading data..."; echo; echo '{"ic": 0.05}'; echo`), nil)
		require.NoError(t, err)
		require.Equal(t, map[string]any{"ic": 0.05}, res)
	})

	t.Run("EmptyOutputIsEmptyResult", func(t *testing.T) {
		t.Parallel()
		res, err := exec.Run(t.Context(), exec.Def{Command: []string{"true"}}, nil)
		require.NoError(t, err)
		require.Equal(t, map[string]any{}, res)
	})

	t.Run("Dir", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		def := sh(`printf '{"pwd": "%s"}' "$(pwd -P)"`)
		def.Dir = dir
		res, err := exec.Run(t.Context(), def, nil)
		require.NoError(t, err)
		want, err := filepath.EvalSymlinks(dir)
		require.NoError(t, err)
		require.Equal(t, want, res["pwd"])
	})

	for _, tc := range []struct {
		name, script, msg string
	}{
		{"NotJSON", `echo 'accuracy: 0.9'`, `exec: bad result: sh: stdout: not JSON`},
		{"NotAnObject", `echo '[1, 2]'`, `exec: bad result: sh: stdout: want a JSON object, got an array`},
		{"BadResultFile", `echo '{' > "$TASKFLEET_RESULT_FILE"; echo '{}'`, `exec: bad result: sh: TASKFLEET_RESULT_FILE: not JSON`},
		{"StdoutTooLarge", `head -c 16777217 /dev/zero`, `exec: bad result: sh: stdout: larger than 16777216 bytes`},
		{"ResultFileTooLarge", `head -c 16777217 /dev/zero > "$TASKFLEET_RESULT_FILE"`, `exec: bad result: sh: TASKFLEET_RESULT_FILE: larger than 16777216 bytes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := exec.Run(t.Context(), sh(tc.script), nil)
			require.ErrorIs(t, err, exec.ErrBadResult)
			require.ErrorContains(t, err, tc.msg)
		})
	}
}

func TestRunFailure(t *testing.T) {
	t.Parallel()

	t.Run("NonZeroExitKeepsStderrTail", func(t *testing.T) {
		t.Parallel()
		log, logs := logger()
		_, err := exec.Run(t.Context(), sh(`i=1; while [ $i -le 30 ]; do echo "line $i" >&2; i=$((i+1)); done; exit 3`), log)
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		require.Equal(t, 3, ee.Code)
		require.Equal(t, "sh", ee.Command)
		var want []string
		for i := 11; i <= 30; i++ {
			want = append(want, fmt.Sprintf("line %d", i))
		}
		require.Equal(t, strings.Join(want, "\n"), ee.StderrTail, "the last 20 lines")
		require.ErrorContains(t, err, "exec: sh: exit status 3; stderr tail:\nline 11\n")
		require.Len(t, stderrLines(logs), 30, "every stderr line is logged")
		require.Equal(t, "line 1", stderrLines(logs)[0])
	})

	t.Run("TailIsCappedAt4KiB", func(t *testing.T) {
		t.Parallel()
		_, err := exec.Run(t.Context(), sh(`for i in 1 2 3 4 5 6 7 8 9; do printf "%01000d\n" $i >&2; done; echo last >&2; exit 1`), nil)
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		require.LessOrEqual(t, len(ee.StderrTail), 4096)
		require.True(t, strings.HasPrefix(ee.StderrTail, "..."))
		require.True(t, strings.HasSuffix(ee.StderrTail, "\nlast"))
	})

	t.Run("UnterminatedLastLine", func(t *testing.T) {
		t.Parallel()
		log, logs := logger()
		_, err := exec.Run(t.Context(), sh(`printf 'Traceback: boom' >&2; exit 1`), log)
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		require.Equal(t, "Traceback: boom", ee.StderrTail)
		require.Equal(t, []string{"Traceback: boom"}, stderrLines(logs))
	})

	t.Run("CommandNotFound", func(t *testing.T) {
		t.Parallel()
		_, err := exec.Run(t.Context(), exec.Def{Command: []string{"taskfleet-no-such-program"}}, nil)
		require.ErrorContains(t, err, "exec: start taskfleet-no-such-program")
	})
}

func TestStderrIsStreamed(t *testing.T) {
	t.Parallel()
	// The program logs a line, then blocks until the test has seen that line
	// in the log, which proves lines are logged while the program runs.
	gate := filepath.Join(t.TempDir(), "go")
	log, logs := logger()
	def := sh(`echo "epoch 1" >&2; while [ ! -e "$GATE" ]; do sleep 0.01; done; echo '{"done": true}'`)
	def.Env = []string{"GATE=" + gate}
	def.Timeout = "30s"

	done := make(chan error, 1)
	go func() {
		_, err := exec.Run(t.Context(), def, log)
		done <- err
	}()
	require.Eventually(t, func() bool { return len(stderrLines(logs)) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, "epoch 1", stderrLines(logs)[0])
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after the gate opened")
	}
}

func TestBadDef(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct {
		name string
		def  exec.Def
		msg  string
	}{
		{"NoCommand", exec.Def{}, `exec: bad def: command: want a non-empty list`},
		{"EmptyProgram", exec.Def{Command: []string{""}}, `exec: bad def: command: want a non-empty list`},
		{"BadTimeout", exec.Def{Command: []string{"true"}, Timeout: "soon"}, `exec: bad def: timeout "soon": want a positive Go duration such as "90s"`},
		{"NegativeTimeout", exec.Def{Command: []string{"true"}, Timeout: "-1s"}, `exec: bad def: timeout "-1s"`},
		{"BadEnv", exec.Def{Command: []string{"true"}, Env: []string{"NOEQUALS"}}, `exec: bad def: env.0 "NOEQUALS": want KEY=VALUE`},
		{"BadTask", exec.Def{Command: []string{"true"}, Task: json.RawMessage(`{`)}, `exec: bad def: task document is not valid JSON`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := exec.Run(t.Context(), tc.def, nil)
			require.ErrorIs(t, err, exec.ErrBadDef)
			require.ErrorContains(t, err, tc.msg)
		})
	}

	for _, tc := range []struct {
		name string
		in   map[string]any
		msg  string
	}{
		{"Missing", map[string]any{"timeout": "1s"}, "exec: bad def: command: missing"},
		{"String", map[string]any{"command": "python3 train.py"}, "exec: bad def: command: want a list of strings (argv), got string python3 train.py"},
		{"NonString", map[string]any{"command": []any{"python3", 3}}, "exec: bad def: command.1: want a string, got int 3"},
		{"Empty", map[string]any{"command": []any{}}, "exec: bad def: command: want a non-empty list"},
		{"TimeoutNumber", map[string]any{"command": []any{"true"}, "timeout": 30}, "exec: bad def: timeout: want a string, got int 30"},
		{"TimeoutBad", map[string]any{"command": []any{"true"}, "timeout": "30"}, `exec: bad def: timeout "30": want a positive Go duration`},
		{"EnvList", map[string]any{"command": []any{"true"}, "env": []any{"A=1"}}, "exec: bad def: env: want a map of strings"},
		{"EnvValue", map[string]any{"command": []any{"true"}, "env": map[string]any{"A": 1}}, "exec: bad def: env.A: want a string, got int 1"},
	} {
		t.Run("FromMap"+tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := exec.DefFromMap(tc.in)
			require.ErrorIs(t, err, exec.ErrBadDef)
			require.ErrorContains(t, err, tc.msg)
		})
	}
}

func TestDefFromMap(t *testing.T) {
	t.Parallel()
	doc := `{"command": ["python3", "train.py", "--fast"], "timeout": "90s", "dir": "/srv",
		"env": {"B": "2", "A": "1"}, "lr": 0.001, "big": 12345678901234567890}`

	var def exec.Def
	require.NoError(t, json.Unmarshal([]byte(doc), &def))
	require.Equal(t, []string{"python3", "train.py", "--fast"}, def.Command)
	require.Equal(t, "90s", def.Timeout)
	require.Equal(t, "/srv", def.Dir)
	require.Equal(t, []string{"A=1", "B=2"}, def.Env)
	require.JSONEq(t, doc, string(def.Task), "the program gets the whole document")
	require.Contains(t, string(def.Task), "12345678901234567890", "numbers are kept exactly")

	b, err := json.Marshal(def)
	require.NoError(t, err)
	require.JSONEq(t, doc, string(b))

	err = json.Unmarshal([]byte(`{"command": "ls"}`), &def)
	require.ErrorIs(t, err, exec.ErrBadDef)

	// A typed []string command, as a Go caller may build it.
	d, err := exec.DefFromMap(map[string]any{"command": []string{"true"}})
	require.NoError(t, err)
	require.Equal(t, []string{"true"}, d.Command)
}

func TestRunCancelledBeforeStart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := exec.Run(ctx, exec.Def{Command: []string{"true"}}, nil)
	require.Error(t, err)
	require.True(t, errors.Is(err, context.Canceled), "got %v", err)
}
