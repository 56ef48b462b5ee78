package e2e_test

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/fleettest"
)

// TestWorkersOnOneFileAdviseCPUs runs two real worker processes on one
// SQLite file at Go's default CPUs, both busy with no-op tasks: a worker
// that finds the other writing the file and listed in the registry warns,
// once, with the --cpus to give each.
func TestWorkersOnOneFileAdviseCPUs(t *testing.T) {
	if runtime.NumCPU() < 2 || os.Getenv("GOMAXPROCS") != "" {
		t.Skip("needs Go's default GOMAXPROCS on two or more CPUs")
	}
	c := newCluster(t)
	specs := make([]spec, 50_000)
	for i := range specs {
		specs[i] = spec{Kind: "noop", Def: map[string]any{"seq": i}}
	}
	c.create(specs)
	const msg = "other worker processes on this host write this SQLite file while each schedules on every CPU: " +
		"they slow each other down unless each gets its share; set --cpus to the CPUs divided by the processes (docs/SCALE.md)"
	ws := []*worker{
		c.startWorker("a", "--health-interval", "20ms", "--concurrency", "16"),
		c.startWorker("b", "--health-interval", "20ms", "--concurrency", "16"),
	}
	var warned *worker
	require.Eventually(t, func() bool {
		for _, w := range ws {
			if strings.Contains(w.Stderr(), "other worker processes on this host") {
				warned = w
				return true
			}
		}
		return false
	}, time.Minute, 20*time.Millisecond, "neither worker warned")
	rec := warned.WaitLog(t, time.Second, "the advice", fleettest.LogMsg(msg))
	require.Equal(t, "warn", rec["level"])
	require.EqualValues(t, 1, rec["other_workers"])
	require.EqualValues(t, max(1, runtime.NumCPU()/2), rec["suggested_cpus"])
	require.Equal(t, 1, strings.Count(warned.Stderr(), msg), "warned once")
}
