package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// doneWithArtifacts makes, in the SQLite store of env, a done task of pool
// p whose attempt stored the given artifacts, and returns its id.
func doneWithArtifacts(t *testing.T, env map[string]string, arts map[string][]byte) string {
	t.Helper()
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: strings.TrimPrefix(env["TASKFLEET_STORE"], "sqlite://")})
	require.NoError(t, err)
	defer s.Close()
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "p"})
	require.NoError(t, err)
	_, err = m.Create(ctx, []taskstate.TaskSpec{{Kind: "noop", Def: len(arts)}}, taskstate.CreateOptions{})
	require.NoError(t, err)
	claimed, err := m.Claim(ctx, taskstate.ClaimOptions{Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	for name, data := range arts {
		_, err := m.StageArtifact(ctx, claimed[0], name, bytes.NewReader(data), taskstate.ArtifactLimits{})
		require.NoError(t, err)
	}
	require.NoError(t, m.PromoteArtifacts(ctx, claimed[0]))
	require.NoError(t, m.Commit(ctx, claimed[0], "ok", ""))
	return claimed[0].ID
}

func TestArtifactsCommand(t *testing.T) {
	env := storeEnv(t)
	pred := bytes.Repeat([]byte("2020-01-02,SH600000,0.5\n"), 100_000) // > 2 chunks
	id := doneWithArtifacts(t, env, map[string][]byte{"pred.csv": pred, "model.json": []byte(`{"w":1}`)})
	sum := sha256.Sum256(pred)

	code, out, errOut := run(t, env, "artifacts", "--pool", "p", "--id", id, "-o", "json")
	require.Equal(t, 0, code, errOut)
	var list []artifactJSON
	require.NoError(t, json.Unmarshal([]byte(out), &list))
	require.Len(t, list, 2)
	require.Equal(t, "model.json", list[0].Name)
	require.Equal(t, artifactJSON{Name: "pred.csv", Size: int64(len(pred)), SHA256: hex.EncodeToString(sum[:]), Attempt: 1, CreatedAt: list[1].CreatedAt}, list[1])

	code, out, _ = run(t, env, "artifacts", "--pool", "p", "--id", id)
	require.Equal(t, 0, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3)
	require.Regexp(t, `^NAME\s+SIZE\s+SHA256\s+ATTEMPT\s+CREATED$`, lines[0])
	require.Regexp(t, `^pred\.csv\s+2400000\s+`+hex.EncodeToString(sum[:])+`\s+1\s+20\d\d-`, lines[2])

	// To stdout, byte for byte.
	code, out, errOut = run(t, env, "artifact", "--pool", "p", "--id", id, "--name", "pred.csv")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, string(pred), out)

	// To a file, replacing what was there.
	file := filepath.Join(t.TempDir(), "pred.csv")
	require.NoError(t, os.WriteFile(file, []byte("old"), 0o600))
	code, out, errOut = run(t, env, "artifact", "--pool", "p", "--id", id, "--name", "pred.csv", "-O", file)
	require.Equal(t, 0, code, errOut)
	require.Empty(t, out)
	got, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, pred, got)
	entries, err := os.ReadDir(filepath.Dir(file))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left")
}

func TestArtifactCommandErrors(t *testing.T) {
	env := storeEnv(t)
	id := doneWithArtifacts(t, env, map[string][]byte{"pred.csv": []byte("x")})
	unknown := "0123456789abcdef01234567"
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"artifacts", "--pool", "p"}, 2, "--id is required"},
		{[]string{"artifacts", "--pool", "p", "--id", "xyz"}, 2, `--id: task id "xyz": want 24 hex digits`},
		{[]string{"artifacts", "--pool", "p", id}, 2, "unexpected argument"},
		{[]string{"artifact", "--pool", "p", "--id", id}, 2, "--name is required"},
		{[]string{"artifact", "--pool", "p", "--id", id, "--name", "../etc/passwd"}, 2, "--name: taskstate: invalid artifact name"},
		{[]string{"artifact", "--pool", "p", "--id", id, "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"artifacts", "--pool", "p", "--id", unknown}, 1, "task not found: " + unknown},
		{[]string{"artifact", "--pool", "p", "--id", unknown, "--name", "pred.csv"}, 1, "task not found: " + unknown},
		{[]string{"artifact", "--pool", "p", "--id", id, "--name", "model.pkl"}, 1, `task ` + id + ` in pool p has no artifact "model.pkl"`},
	} {
		code, out, stderr := run(t, env, tc.args...)
		require.Equal(t, tc.code, code, "%v: %s", tc.args, stderr)
		require.Contains(t, stderr, tc.want, "%v", tc.args)
		require.Empty(t, out, "%v", tc.args)
	}

	// A failed download leaves neither the file nor a temporary one.
	dir := t.TempDir()
	file := filepath.Join(dir, "model.pkl")
	code, _, _ := run(t, env, "artifact", "--pool", "p", "--id", id, "--name", "model.pkl", "-O", file)
	require.Equal(t, 1, code)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries)
}
