package job_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/job"
)

// TestConfigExactAndBounded: the integers of a run config are exact (the
// YAML decoder would truncate 1.5 to 1) and workers and concurrency are
// bounded; each error names the file, the line and the key.
func TestConfigExactAndBounded(t *testing.T) {
	t.Parallel()
	demo, err := os.ReadFile(filepath.Join("..", "..", "examples", "rolling", "demo.yaml"))
	require.NoError(t, err)
	for _, tc := range []struct{ old, new, want string }{
		{"\nworkers: 2\n", "\nworkers: 100000\n", "workers: must be from 0 to 64"},
		{"\nconcurrency: 1\n", "\nconcurrency: 5000\n", "concurrency: must be from 0 to 4096"},
		{"\nworkers: 2\n", "\nworkers: 2\npriority: 1.5\n", "priority: want an integer, got 1.5"},
		{"\nworkers: 2\n", "\nworkers: 2\npriority: .inf\n", "priority: want an integer, got .inf"},
		{"\nworkers: 2\n", "\nworkers: 2.0\n", "workers: want an integer, got 2.0"},
		{"\nconcurrency: 1\n", "\nconcurrency: 99999999999999999999\n", "concurrency: want an integer from"},
	} {
		require.Contains(t, string(demo), tc.old)
		doc := strings.Replace(string(demo), tc.old, tc.new, 1)
		_, err := job.Parse([]byte(doc), "run.yaml")
		require.ErrorIs(t, err, job.ErrInvalidConfig, tc.want)
		require.ErrorContains(t, err, tc.want)
		require.Regexp(t, `run\.yaml:\d+: `, err.Error())
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	require.NoError(t, os.WriteFile(big, []byte("pool: p\n# "+strings.Repeat("x", 17<<20)+"\n"), 0o644))
	_, err = job.Load(big)
	require.ErrorIs(t, err, job.ErrInvalidConfig)
	require.ErrorContains(t, err, "more than 16777216 bytes (the limit for a config file)")
}
