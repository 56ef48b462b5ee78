package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOpsCommands runs cancel, pause, resume, workers and create's warning
// in-process on a SQLite store: usage errors exit 2 naming the flag, a
// paused pool shows in stat, and create warns about a kind no live worker
// serves without failing.
func TestOpsCommands(t *testing.T) {
	env := storeEnv(t)
	file := filepath.Join(t.TempDir(), "tasks.yaml")
	require.NoError(t, os.WriteFile(file, []byte("- kind: sleep\n  def: {duration: 1h}\n- kind: noop\n  def: {a: 1}\n"), 0o644))

	code, out, errOut := run(t, env, "create", "-f", file, "-o", "json")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, errOut, "no live worker serves this kind")
	require.Contains(t, errOut, `"kind": "sleep"`)
	require.Contains(t, errOut, `"kind": "noop"`)
	var ids []string
	require.NoError(t, json.Unmarshal([]byte(out), &ids))

	code, out, _ = run(t, env, "workers", "-o", "json")
	require.Equal(t, 0, code)
	require.JSONEq(t, `[]`, out)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cancel", "--reason", "x"}, "give --id or --filter"},
		{[]string{"cancel", "--id", ids[0]}, "--reason: a reason is required"},
		{[]string{"cancel", "--id", "nothex", "--reason", "x"}, `task id "nothex"`},
		{[]string{"cancel", "--filter", "{", "--reason", "x"}, "--filter"},
		{[]string{"pause", "extra"}, `unexpected argument "extra"`},
	} {
		code, _, errOut := run(t, env, tc.args...)
		require.Equal(t, 2, code, "%q: %s", tc.args, errOut)
		require.Contains(t, errOut, tc.want, "%q", tc.args)
	}

	code, out, errOut = run(t, env, "pause", "--reason", "upgrade")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "paused since")
	code, out, _ = run(t, env, "stat", "-o", "json")
	require.Equal(t, 0, code)
	require.JSONEq(t, `{"waiting":2,"running":0,"part_done":0,"done":0,"failed":0,"paused":true}`, out)
	code, out, _ = run(t, env, "stat")
	require.Equal(t, 0, code)
	require.Contains(t, out, "upgrade")

	code, out, errOut = run(t, env, "cancel", "--id", ids[0], "--reason", "wrong window", "-o", "json")
	require.Equal(t, 0, code, errOut)
	require.JSONEq(t, `{"cancelled":1}`, out)
	code, out, _ = run(t, env, "retry-failed", "-o", "json")
	require.Equal(t, 0, code)
	require.JSONEq(t, `{"matched":0}`, out)
	code, out, _ = run(t, env, "retry-failed", "--include-cancelled", "-o", "json")
	require.Equal(t, 0, code)
	require.JSONEq(t, `{"matched":1}`, out)

	code, out, _ = run(t, env, "resume", "-o", "json")
	require.Equal(t, 0, code)
	require.JSONEq(t, `{"pool":"default","state":{"paused":false}}`, out)
	code, out, _ = run(t, env, "stat", "-o", "json")
	require.Equal(t, 0, code)
	require.JSONEq(t, `{"waiting":2,"running":0,"part_done":0,"done":0,"failed":0}`, out)
}
