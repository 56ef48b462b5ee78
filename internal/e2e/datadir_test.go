//go:build unix

package e2e_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// linearCSVTask is a linear task reading its dataset from path.
func linearCSVTask(path string) spec {
	return spec{Kind: "linear", MaxAttempts: 3, Def: map[string]any{
		"model": map[string]any{"class": "Ridge", "kwargs": map[string]any{"alpha": 1.0}},
		"dataset": map[string]any{"kwargs": map[string]any{
			"data":     map[string]any{"csv": path},
			"segments": map[string]any{"train": []any{"2019-01-01", "2019-08-30"}, "test": []any{"2019-09-02", "2019-12-31"}},
		}},
	}}
}

// TestLinearDataDir: a linear def cannot make a worker read its own
// environment (/proc/self/environ used to land whole in last_error), a
// file outside --data-dir or one a symbolic link leads to; and an error
// about a file inside quotes only a short excerpt of it.
func TestLinearDataDir(t *testing.T) {
	const secret = "Sup3rS3cretValue-0123456789"
	c := newCluster(t)
	dataDir := filepath.Join(c.dir, "data")
	require.NoError(t, os.MkdirAll(dataDir, 0o755))
	outside := filepath.Join(c.dir, "secrets.csv")
	require.NoError(t, os.WriteFile(outside, []byte("TOKEN="+secret+"\n"), 0o600))
	require.NoError(t, os.Symlink(outside, filepath.Join(dataDir, "link.csv")))
	// Inside the data directory, but not a panel: a long header line.
	require.NoError(t, os.WriteFile(filepath.Join(dataDir, "notes.csv"), []byte("x,"+strings.Repeat("y", 40)+secret+"\n"), 0o600))

	w := c.startWorkerIn("w1", "", []string{"TASKFLEET_TEST_SECRET=" + secret}, "--kinds", "linear", "--data-dir", dataDir)
	ids := c.create([]spec{
		linearCSVTask("/proc/self/environ"),
		linearCSVTask(outside),
		linearCSVTask("../secrets.csv"),
		linearCSVTask("link.csv"),
		linearCSVTask("notes.csv"),
		linearCSVTask("missing.csv"),
	})
	c.waitAll(time.Minute)
	want := []string{
		`dataset.kwargs.data.csv: "/proc/self/environ": outside the data directory ` + dataDir,
		`outside the data directory ` + dataDir,
		`dataset.kwargs.data.csv: "../secrets.csv": outside the data directory`,
		`"link.csv": outside the data directory ` + dataDir + ` (a symbolic link leads out of it)`,
		`notes.csv:1: missing column "datetime" (header: x,yyyyyyyyyyyyyyyyyyyyyyyyyyyyyy…)`,
		`"missing.csv": no such file in the data directory`,
	}
	for i, tk := range c.get(ids...) {
		require.Equal(t, "failed", tk.Status, "task %d: %+v", i, tk)
		require.Contains(t, tk.LastError, want[i], "task %d", i)
		require.NotContains(t, tk.LastError, secret, "task %d", i)
		require.Less(t, len(tk.LastError), 400, "task %d: %s", i, tk.LastError)
		if i != 4 {
			require.Equal(t, 1, tk.Attempts, "task %d: a refused path is not retried", i)
		}
	}
	require.NotContains(t, w.Stderr(), secret)
}
