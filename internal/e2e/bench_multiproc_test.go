//go:build unix

package e2e_test

import (
	"encoding/json"
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/bench"
)

// TestBenchMultiproc runs a small `dispatcher bench --scenario multiproc`
// with real worker processes: one process on one file, three on one file,
// and three on a file each burn down all the tasks, and the ratios
// are the runs' rates. The one process runs on every CPU, the three on
// their share each (--cpus), as their start lines report.
func TestBenchMultiproc(t *testing.T) {
	if os.Getenv("GOMAXPROCS") != "" {
		t.Skip("GOMAXPROCS is set: the one process's CPUs are not Go's default")
	}
	c := newCluster(t)
	const tasks, procs = 3000, 3
	r := c.dispatcher("bench", "--scenario", "multiproc", "-n", "3000", "--procs", "3", "--concurrency", "30",
		"--worker-bin", c.bin.Worker, "-o", "json")
	require.Equal(t, 0, r.Code, "%s", r)
	var res bench.Results
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &res), r.Stdout)
	m := res.Multiproc
	require.NotNil(t, m, r.Stdout)
	require.Equal(t, tasks, m.Tasks)
	share := max(1, runtime.NumCPU()/procs)
	for _, run := range []struct {
		name       string
		r          bench.MultiprocRun
		procs      int
		cpus, gmax int
	}{{"one", m.One, 1, 0, runtime.GOMAXPROCS(0)}, {"many", m.Many, procs, share, share}, {"apart", m.Apart, procs, share, share}} {
		require.Equal(t, run.procs, run.r.Procs, run.name)
		require.Equal(t, run.cpus, run.r.CPUs, "%s: --cpus", run.name)
		require.Equal(t, run.gmax, run.r.GOMAXPROCS, "%s: GOMAXPROCS the workers reported", run.name)
		require.Equal(t, 30/run.procs, run.r.Concurrency, run.name)
		require.Positive(t, run.r.TasksPerSec, run.name)
		require.Positive(t, run.r.CPUPerTaskMicros, "%s: the worker processes' CPU", run.name)
	}
	require.InDelta(t, m.Many.TasksPerSec/m.One.TasksPerSec, m.Ratio, 1e-9)
	require.InDelta(t, m.Apart.TasksPerSec/m.One.TasksPerSec, m.ApartRatio, 1e-9)
	require.Contains(t, r.Stderr, "pool apart of apart-2.db", "the third run's files, one per process")
}
