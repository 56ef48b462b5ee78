//go:build unix

package e2e_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/bench"
)

// TestBenchFanout runs a small `dispatcher bench --scenario fanout` with
// real worker processes: each task costs about one claim and one commit
// whatever the fleet size, and the idle cost is measured.
func TestBenchFanout(t *testing.T) {
	c := newCluster(t)
	const tasks = 10
	r := c.dispatcher("bench", "--scenario", "fanout", "--fanout-workers", "1,6", "--fanout-tasks", fmt.Sprint(tasks),
		"--fanout-idle", "2s", "--poll-interval", "200ms", "--fanout-event-poll", "500ms", "--worker-bin", c.bin.Worker, "-o", "json")
	require.Equal(t, 0, r.Code, "%s", r)
	var res bench.Results
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &res), r.Stdout)
	require.NotNil(t, res.Fanout, r.Stdout)
	require.Len(t, res.Fanout.Rows, 2)
	for _, row := range res.Fanout.Rows {
		// Idle, every worker polls about twice a second (the event poll):
		// the idle cost is measured, and it is what the fleet would have
		// claimed anyway.
		require.Positive(t, row.IdleByOp["claim"], "idle polls measured, %d workers: %+v", row.Workers, row)
		polls := row.IdleByOp["claim"] * float64(row.Workers) * row.Seconds / tasks
		// One commit per task; a claim per task, plus at most a few spare
		// wake-ups once the idle polls are taken out (every worker waking
		// would make 6 at N=6).
		require.InDelta(t, 1, row.CommitsPerTask, 0.01, "commits per task, %d workers", row.Workers)
		require.GreaterOrEqual(t, row.ClaimsPerTask, 1.0, "claims per task, %d workers", row.Workers)
		require.Less(t, row.ClaimsPerTask-polls, 2.0, "claims per task net of polls (%.2f), %d workers: %+v", polls, row.Workers, row)
	}
}
