package program_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/taskfleet/taskfleet/internal/handlers/program"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// runOnRunner runs one task of spec's kind through a real Runner over a
// SQLite file and returns the task when it is done or failed.
func runOnRunner(t *testing.T, spec program.Spec, def any) (*taskstate.Manager, *taskstate.Task, string) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tasks.db")
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: path})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "p1"})
	require.NoError(t, err)
	res, err := m.Create(ctx, []taskstate.TaskSpec{{Kind: spec.Name, Def: def, MaxAttempts: 3}}, taskstate.CreateOptions{})
	require.NoError(t, err)
	r, err := taskstate.NewRunner(taskstate.RunnerConfig{Manager: m, Concurrency: 1, PollInterval: 5 * time.Millisecond,
		Handlers: map[string]taskstate.HandlerFunc{spec.Name: program.Handler(spec, testOpts())}})
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(rctx) }()
	_, err = m.Wait(ctx, taskstate.WaitOptions{Timeout: 60 * time.Second, Fallback: 5 * time.Millisecond})
	cancel()
	<-done
	require.NoError(t, err)
	task, err := m.Get(ctx, res.IDs[0])
	require.NoError(t, err)
	return m, task, path
}

// storedRows counts the artifacts (staged ones too) and chunks in the
// SQLite file at path.
func storedRows(t *testing.T, path string) (files, chunks int64) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM artifacts`).Scan(&files))
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM artifact_chunks`).Scan(&chunks))
	return files, chunks
}

func py(t *testing.T, name, script string) program.Spec {
	return program.Spec{Name: name, Command: []string{python(t), "-c", script}}
}

// A Python program writes two files into TASKFLEET_ARTIFACT_DIR; both
// become the task's artifacts, by name, byte for byte.
func TestProgramArtifacts(t *testing.T) {
	t.Parallel()
	spec := py(t, "train", `
import os, json
d = os.environ["TASKFLEET_ARTIFACT_DIR"]
with open(os.path.join(d, "pred.csv"), "w") as f:
    f.write("datetime,instrument,score\n")
    for i in range(50000):
        f.write("2020-01-%02d,SH%06d,%f\n" % (i % 28 + 1, i, i / 7))
with open(os.path.join(d, "model.json"), "w") as f:
    json.dump({"w": [1, 2, 3]}, f)
print(json.dumps({"ok": True}))
`)
	m, task, _ := runOnRunner(t, spec, map[string]any{})
	require.Equal(t, taskstate.StatusDone, task.Status, task.LastError)
	arts, err := m.Artifacts(context.Background(), task.ID)
	require.NoError(t, err)
	require.Len(t, arts, 2)
	require.Equal(t, "model.json", arts[0].Name)
	require.Equal(t, "pred.csv", arts[1].Name)
	var b bytes.Buffer
	_, err = m.CopyArtifact(context.Background(), task.ID, "model.json", &b)
	require.NoError(t, err)
	require.JSONEq(t, `{"w": [1, 2, 3]}`, b.String())
	b.Reset()
	a, err := m.CopyArtifact(context.Background(), task.ID, "pred.csv", &b)
	require.NoError(t, err)
	require.Greater(t, a.Size, int64(1<<20), "more than one chunk")
	require.Equal(t, a.Size, int64(b.Len()))
	sum := sha256.Sum256(b.Bytes())
	require.Equal(t, hex.EncodeToString(sum[:]), a.SHA256)
	require.Contains(t, b.String(), "2020-01-02,SH000001,0.142857\n")
}

// Only regular files are stored: a link (to a file the program could not
// otherwise hand over), a directory, or a replaced artifact directory fail
// the task at once, and nothing of the attempt is kept. A program that
// fails keeps nothing either.
func TestProgramArtifactsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, script, msg string
		attempts          int
	}{
		{"Symlink", `os.symlink("/etc/passwd", os.path.join(d, "passwd"))`, `"passwd": a symbolic link: only regular files are stored`, 1},
		{"Directory", `os.mkdir(os.path.join(d, "ckpt"))`, `"ckpt": a directory`, 1},
		{"FIFO", `os.mkfifo(os.path.join(d, "pipe"))`, `"pipe": not a regular file`, 1},
		{"DirReplacedByLink", `import shutil; shutil.rmtree(d); os.symlink("/etc", d)`, `TASKFLEET_ARTIFACT_DIR is no longer a directory`, 1},
		{"NonZeroExit", `sys.exit(3)`, `exit status 3`, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec := py(t, "train", "import os, sys\nd = os.environ['TASKFLEET_ARTIFACT_DIR']\n"+
				"open(os.path.join(d, 'a.txt'), 'w').write('kept?')\n"+tc.script+"\n")
			m, task, path := runOnRunner(t, spec, map[string]any{})
			require.Equal(t, taskstate.StatusFailed, task.Status)
			require.Equal(t, tc.attempts, task.Attempts)
			require.Contains(t, task.LastError, tc.msg)
			arts, err := m.Artifacts(context.Background(), task.ID)
			require.NoError(t, err)
			require.Empty(t, arts)
			files, chunks := storedRows(t, path)
			require.Zero(t, files, "a.txt was not left staged")
			require.Zero(t, chunks)
		})
	}
}
