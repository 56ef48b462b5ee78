//go:build unix

package e2e_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/fleettest"
)

// TestFleet runs 2,000 sleep tasks on three worker processes sharing one
// SQLite file, with `dispatcher dev` carrying the events: every task ends
// done after exactly one claim, its stored result names one of the three
// workers, and what each worker's /metrics says it committed matches the
// results that name it.
func TestFleet(t *testing.T) {
	c := newCluster(t)
	d := c.startDev(fleettest.FreeAddr(t))
	owners := []string{"fleet-a", "fleet-b", "fleet-c"}
	var workers []*worker
	for _, o := range owners {
		workers = append(workers, c.startWorker(o, "--nats", d.url, "--concurrency", "8", "--lease", "5s", "--poll-interval", "500ms"))
	}

	const n = 2000
	ids := c.create(sleepTasks(n, "2ms", "fleet"), "--nats", d.url)
	require.Len(t, uniq(ids), n, "create returned duplicate ids")

	c.waitAll(2*time.Minute, "--nats", d.url)

	counts := c.stat()
	require.Equal(t, map[string]int{"waiting": 0, "running": 0, "part_done": 0, "done": n, "failed": 0}, counts)

	tasks := c.get(ids...)
	perOwner := map[string]int{}
	for i, tk := range tasks {
		require.Equal(t, ids[i], tk.ID)
		require.Equal(t, "done", tk.Status, "task %s", tk.ID)
		require.Equal(t, 1, tk.Attempts, "task %s was claimed more than once: %+v", tk.ID, tk)
		res := tk.sleepRes(t)
		require.Contains(t, owners, res.Worker, "task %s result %s", tk.ID, tk.Res)
		require.Equal(t, 1, res.Attempt, "task %s result %s", tk.ID, tk.Res)
		perOwner[res.Worker]++
	}

	var committed, claimed float64
	for _, w := range workers {
		got := w.metric(t, "taskfleet_tasks_committed_total", "pool", c.pool)
		require.Equal(t, float64(perOwner[w.owner]), got, "%s committed per /metrics vs results naming it (%v)", w.owner, perOwner)
		committed += got
		claimed += w.metric(t, "taskfleet_tasks_claimed_total")
		require.Zero(t, w.metric(t, "taskfleet_lease_lost_total"), w.owner)
	}
	require.Equal(t, float64(n), committed, "sum of taskfleet_tasks_committed_total over the workers")
	require.Equal(t, float64(n), claimed, "sum of taskfleet_tasks_claimed_total over the workers")
	t.Logf("tasks per worker: %v", perOwner)
}

func uniq(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}
