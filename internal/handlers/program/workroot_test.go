//go:build unix

package program_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/handlers/program"
)

// TestWorkRootSweep: opening a work root removes the roots nobody holds
// (and old lockless ones), and keeps held roots, young lockless ones and
// anything not named like a root.
func TestWorkRootSweep(t *testing.T) {
	parent := t.TempDir()
	held, removed, err := program.OpenWorkRoot(parent)
	require.NoError(t, err)
	require.Empty(t, removed)
	require.True(t, strings.HasPrefix(filepath.Base(held.Dir()), "taskfleet_work-"), held.Dir())
	require.DirExists(t, held.Dir())

	dead := filepath.Join(parent, "taskfleet_work-dead")
	require.NoError(t, os.MkdirAll(filepath.Join(dead, "taskfleet-train-1", "artifacts"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dead, ".lock"), nil, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dead, "taskfleet-train-1", "artifacts", "model.bin"), []byte("weights"), 0o600))
	young := filepath.Join(parent, "taskfleet_work-young")
	require.NoError(t, os.Mkdir(young, 0o700))
	old := filepath.Join(parent, "taskfleet_work-old")
	require.NoError(t, os.Mkdir(old, 0o700))
	long := time.Now().Add(-2 * time.Hour)
	require.NoError(t, os.Chtimes(old, long, long))
	other := filepath.Join(parent, "taskfleet-train-2")
	require.NoError(t, os.Mkdir(other, 0o700))
	// A running attempt's own directory, of a program named "work", made
	// by a worker without a work root: never a root, however old.
	attempt := filepath.Join(parent, "taskfleet-work-3")
	require.NoError(t, os.Mkdir(attempt, 0o700))
	require.NoError(t, os.Chtimes(attempt, long, long))

	second, removed, err := program.OpenWorkRoot(parent)
	require.NoError(t, err)
	require.Equal(t, []string{dead, old}, removed)
	require.NoDirExists(t, dead)
	require.NoDirExists(t, old)
	for _, kept := range []string{held.Dir(), young, other, attempt, second.Dir()} {
		require.DirExists(t, kept)
	}

	require.NoError(t, held.Close())
	require.NoDirExists(t, held.Dir())
	require.NoError(t, second.Close())
	require.NoDirExists(t, second.Dir())
	var none *program.WorkRoot
	require.NoError(t, none.Close())
	require.Empty(t, none.Dir())
}

// TestWorkRootUnwritableParent names the directory it could not use.
func TestWorkRootUnwritableParent(t *testing.T) {
	_, _, err := program.OpenWorkRoot(filepath.Join(t.TempDir(), "missing"))
	require.ErrorContains(t, err, "work root:")
	require.ErrorContains(t, err, "missing")
}
