//go:build unix

package e2e_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/fleettest"
)

// TestClockSkewSQLite and TestClockSkewMongo run workers whose own clocks
// are an hour ahead and an hour behind (the worker's
// TASKFLEET_TEST_CLOCK_OFFSET hook) on each backend. Leases are on the
// store's clock, so the skew changes nothing: a worker an hour ahead that
// is SIGKILLed has its tasks back within lease + grace (not after the
// hour its clock would have added), and the tasks of two healthy workers,
// each reaping every 100 ms over the other's leases, are never reaped:
// every one done exactly once.
func TestClockSkewSQLite(t *testing.T) {
	clockSkew(t, newCluster(t))
}

func TestClockSkewMongo(t *testing.T) {
	uri := os.Getenv(envMongoProxyURI)
	if uri == "" {
		t.Skipf("%s is not set: no serialised Mongo-wire server (run through tools/mongotestserver/with-server.sh)", envMongoProxyURI)
	}
	c := newCluster(t)
	c.store, c.pool = uri, mongoPool(t, uri)
	clockSkew(t, c)
}

func clockSkew(t *testing.T, c *cluster) {
	// The harness's worker: --lease 2s, --reap-grace 1s, --reap-interval
	// 100ms, --poll-interval 100ms, no events.
	const lease, grace = 2 * time.Second, time.Second
	skewed := func(owner, offset string) *worker {
		return c.startWorkerIn(owner, "", []string{"TASKFLEET_TEST_CLOCK_OFFSET=" + offset}, "--kinds", "sleep,noop", "--concurrency", "4")
	}

	// A crash: the worker an hour ahead holds four tasks and is killed.
	victim := skewed("ahead-victim", "1h")
	crashed := c.create(sleepTasks(4, "4s", "skew-crash"))
	fleettest.Eventually(t, 20*time.Second, func() error {
		if n := victim.metric(t, "taskfleet_tasks_in_flight"); n != 4 {
			return fmt.Errorf("the victim runs %v tasks, want 4", n)
		}
		return nil
	})
	held := byID(c.running(victim.owner))
	victim.requireBusy(t, 4)
	victim.Kill(t)
	killed := time.Now()
	for _, id := range crashed {
		until := held[id].LeaseUntil
		require.NotNil(t, until, "task %s: %+v", id, held[id])
		require.WithinDuration(t, killed, *until, lease+time.Second,
			"the lease of %s ends at the store's now + lease, not an hour later by the victim's clock", id)
	}

	rescuer := skewed("behind-rescuer", "-1h")
	c.waitAll(60 * time.Second)
	for _, tk := range c.get(crashed...) {
		require.Equal(t, "done", tk.Status, describe([]task{tk}))
		require.Equal(t, 2, tk.Attempts, describe([]task{tk}))
		require.Equal(t, rescuer.owner, tk.sleepRes(t).Worker, describe([]task{tk}))
		require.NotNil(t, tk.StartedAt, describe([]task{tk}))
		require.True(t, tk.StartedAt.After(held[tk.ID].LeaseUntil.Add(grace)),
			"task %s taken back at %s, before its lease (until %s) plus the %s grace", tk.ID, tk.StartedAt, held[tk.ID].LeaseUntil, grace)
		// Within lease + grace of the kill, with room for the reaper's
		// interval, a poll and a loaded machine; not the hour of skew.
		require.Less(t, tk.StartedAt.Sub(killed), lease+grace+15*time.Second,
			"task %s came back %s after the kill", tk.ID, tk.StartedAt.Sub(killed))
	}

	// Healthy leases: tasks longer than the lease (renewed by heartbeats)
	// on a worker an hour ahead and one an hour behind; each one's reaper
	// looks at the other's leases every 100 ms.
	ahead := skewed("ahead", "1h")
	reapedBefore := reaped(t, rescuer)
	healthy := c.create(sleepTasks(8, "3s", "skew-healthy"))
	c.waitAll(60 * time.Second)
	for _, tk := range c.get(healthy...) {
		require.Equal(t, "done", tk.Status, describe([]task{tk}))
		require.Equal(t, 1, tk.Attempts, "a healthy lease was reaped: %s", describe([]task{tk}))
	}
	for _, w := range []*worker{ahead, rescuer} {
		require.Zero(t, w.metric(t, "taskfleet_lease_lost_total"), w.owner)
	}
	require.Zero(t, reaped(t, ahead), "the worker an hour ahead reaped healthy leases")
	require.Equal(t, reapedBefore, reaped(t, rescuer), "the worker an hour behind reaped healthy leases")
	require.Equal(t, map[string]int{"waiting": 0, "running": 0, "part_done": 0, "done": 12, "failed": 0}, c.stat())
}

// reaped is the number of tasks w's reaper took back (0 before any).
func reaped(t *testing.T, w *worker) float64 {
	t.Helper()
	n, _ := w.scrape(t).Sum("taskfleet_tasks_reaped_total")
	return n
}
