package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadCommandsNeverCreate: a read command on a mistyped store path or
// pool exits 2 naming it, and leaves no store file behind.
func TestReadCommandsNeverCreate(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "typo", "tasks.db")
	env := map[string]string{"TASKFLEET_STORE": "sqlite://" + missing, "TASKFLEET_LOG_LEVEL": "warn"}
	for _, args := range [][]string{
		{"wait", "--timeout", "1s"}, {"stat"}, {"query"}, {"get", "0123456789abcdef01234567"}, {"list"},
		{"logs", "--id", "0123456789abcdef01234567"}, {"artifacts", "--id", "0123456789abcdef01234567"}, {"retry-failed"},
	} {
		code, _, stderr := run(t, env, args...)
		require.Equal(t, 2, code, "%v: %s", args, stderr)
		require.Contains(t, stderr, "TASKFLEET_STORE: no store at "+missing, "%v", args)
		require.NoDirExists(t, filepath.Dir(missing), "%v created the store", args)
	}

	code, out, stderr := run(t, env, "stat", "--allow-missing", "-o", "json")
	require.Equal(t, 0, code, stderr)
	require.JSONEq(t, `{"waiting":0,"running":0,"part_done":0,"done":0,"failed":0}`, out, "--allow-missing: the old behaviour")

	env = storeEnv(t)
	code, _, stderr = run(t, env, "create", "--pool", "research", "-f", writeFile(t, "- kind: noop\n  def: {a: 1}\n"))
	require.Equal(t, 0, code, stderr)
	for _, args := range [][]string{{"wait", "--timeout", "1s"}, {"stat"}, {"query"}, {"remove", "--all"}} {
		code, _, stderr := run(t, env, append(args, "--pool", "reserch")...)
		require.Equal(t, 2, code, "%v: %s", args, stderr)
		require.Contains(t, stderr, `--pool: no pool "reserch" in the store (it has research;`, "%v", args)
	}
	code, out, _ = run(t, env, "list", "-o", "json")
	require.Equal(t, 0, code)
	require.NotContains(t, out, "reserch", "no read command created the pool")
}

// TestWaitExitCodes: wait exits 0 only when every task is done, 4 when
// all are finished but some failed (naming them), 3 on timeout.
func TestWaitExitCodes(t *testing.T) {
	env := storeEnv(t)
	code, out, stderr := run(t, env, "create", "--pool", "p", "-o", "json", "-f", writeFile(t, "- kind: noop\n  def: {a: 1}\n- kind: noop\n  def: {a: 2}\n- kind: noop\n  def: {a: 3}\n"))
	require.Equal(t, 0, code, stderr)
	var ids []string
	require.NoError(t, json.Unmarshal([]byte(out), &ids))

	code, _, stderr = run(t, env, "wait", "--pool", "p", "--timeout", "50ms", "--quiet")
	require.Equal(t, 3, code, stderr)

	code, _, stderr = run(t, env, "reset-status", "--pool", "p", "--status", "done", ids[0], ids[1])
	require.Equal(t, 0, code, stderr)
	code, _, stderr = run(t, env, "reset-status", "--pool", "p", "--status", "failed", ids[2])
	require.Equal(t, 0, code, stderr)
	code, out, stderr = run(t, env, "wait", "--pool", "p", "--timeout", "1m", "--quiet")
	require.Equal(t, 4, code, "%s%s", out, stderr)
	require.Contains(t, out, "failed tasks (1 of 1 shown):")
	require.Contains(t, out, ids[2], "the failed task is listed")
	require.NotContains(t, out, ids[0])
	require.Contains(t, stderr, "some tasks failed: 1 of 3 tasks")

	code, out, _ = run(t, env, "wait", "--pool", "p", "--timeout", "1m", "--quiet", "-o", "json")
	require.Equal(t, 4, code)
	var res struct {
		Failed []struct{ ID string } `json:"failed"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.Len(t, res.Failed, 1)
	require.Equal(t, ids[2], res.Failed[0].ID)

	code, out, _ = run(t, env, "wait", "--pool", "p", "--timeout", "1m", "--quiet", ids[0], ids[1])
	require.Equal(t, 0, code, "only done tasks matched: %s", out)
	require.NotContains(t, out, "failed tasks")
	_, err := os.Stat(strings.TrimPrefix(env["TASKFLEET_STORE"], "sqlite://"))
	require.NoError(t, err)
}
