//go:build unix

package e2e_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/bench"
)

// TestBenchFanout runs a small `dispatcher bench --scenario fanout` with
// real worker processes: each task costs about one claim and one commit
// whatever the fleet size, and the idle cost is measured.
func TestBenchFanout(t *testing.T) {
	c := newCluster(t)
	r := c.dispatcher("bench", "--scenario", "fanout", "--fanout-workers", "1,6", "--fanout-tasks", "10",
		"--fanout-idle", "300ms", "--worker-bin", c.bin.Worker, "-o", "json",
		// Polls count as claims: a long poll keeps them out of the few
		// seconds this runs, so what is left is what the tasks cost.
		"--poll-interval", "5s")
	require.Equal(t, 0, r.Code, "%s", r)
	var res bench.Results
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &res), r.Stdout)
	require.NotNil(t, res.Fanout, r.Stdout)
	require.Len(t, res.Fanout.Rows, 2)
	for _, row := range res.Fanout.Rows {
		// One commit per task; a claim per task, plus at most a few polls
		// or spare wake-ups (every worker waking would make 6 at N=6).
		require.InDelta(t, 1, row.ByOp["commit"], 0.01, "commits per task, %d workers", row.Workers)
		require.GreaterOrEqual(t, row.ClaimsPerTask, 1.0, "claims per task, %d workers", row.Workers)
		require.Less(t, row.ClaimsPerTask, 2.0, "claims per task, %d workers", row.Workers)
		require.Positive(t, row.IdleOpsPerWorkerSec+row.IdleCPUPerWorker, "idle cost measured")
	}
}
