//go:build unix

package e2e_test

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/fleettest"
)

// running returns the tasks that are running under owner.
func (c *cluster) running(owner string) []task {
	c.t.Helper()
	return c.query(fmt.Sprintf(`{"status": "running", "lease.owner": %q}`, owner))
}

// TestKillWorkerMidTask kills a worker with SIGKILL while it runs five
// tasks (reliability §7.1): after lease + grace they are reclaimed (by the
// dev reaper or the second worker's), never sooner; the second worker runs
// the four with attempts left, which end done with attempts 2, the one with
// max_attempts 1 is failed by the reaper; `wait` returns 0.
func TestKillWorkerMidTask(t *testing.T) {
	c := newCluster(t)
	d := c.startDev(fleettest.FreeAddr(t))
	const lease, grace = time.Second, time.Second // grace: the harness's --reap-grace
	victim := c.startWorker("victim", "--nats", d.url, "--concurrency", "5", "--lease", lease.String())
	specs := append(sleepTasks(4, "2s", "kill9"), spec{Kind: "sleep", Def: map[string]any{"duration": "2s", "once": true}, MaxAttempts: 1})
	ids := c.create(specs, "--nats", d.url)
	retried, once := ids[:4], ids[4]

	var held []task
	fleettest.Eventually(t, 20*time.Second, func() error {
		if held = c.running("victim"); len(held) != 5 {
			return fmt.Errorf("the victim runs %d of the 5 tasks", len(held))
		}
		return nil
	})
	victim.requireBusy(t, 5)
	victim.Kill(t)
	// A lease only grows until the kill: the one seen before it is a lower
	// bound of the last one, and nobody may take a task back before that
	// lease has ended plus the reapers' grace.
	leaseSeen := byID(held)

	rescuer := c.startWorker("rescuer", "--nats", d.url, "--concurrency", "4", "--lease", lease.String())
	c.waitAll(30*time.Second, "--nats", d.url)

	for _, tk := range c.get(retried...) {
		require.Equal(t, "done", tk.Status, "task %s", tk.ID)
		require.Equal(t, 2, tk.Attempts, "task %s: one claim by the victim, one by the rescuer", tk.ID)
		res := tk.sleepRes(t)
		require.Equal(t, rescuer.owner, res.Worker, "task %s", tk.ID)
		require.Equal(t, 2, res.Attempt, "task %s", tk.ID)
		until := leaseSeen[tk.ID].LeaseUntil
		require.NotNil(t, until, "task %s had no lease: %+v", tk.ID, leaseSeen[tk.ID])
		require.NotNil(t, tk.StartedAt, "task %s", tk.ID)
		require.True(t, tk.StartedAt.After(until.Add(grace)),
			"task %s reclaimed at %s, before its lease (until %s at least) plus the %s grace", tk.ID, tk.StartedAt, until, grace)
	}
	f := c.get(once)[0]
	require.Equal(t, "failed", f.Status, describe([]task{f}))
	require.Equal(t, 1, f.Attempts, describe([]task{f}))
	require.Contains(t, f.LastError, "victim", "last_error should name the expired lease's owner: %s", describe([]task{f}))
	require.NotNil(t, f.FinishedAt, describe([]task{f}))
	require.True(t, f.FinishedAt.After(leaseSeen[once].LeaseUntil.Add(grace)), "failed before its lease ended: %s", describe([]task{f}))
	require.Equal(t, map[string]int{"waiting": 0, "running": 0, "part_done": 0, "done": 4, "failed": 1}, c.stat())
}

// TestZombieWorker freezes a worker with SIGSTOP past its lease
// (reliability §7.2): the task is reaped and finished by a second worker;
// when the first one resumes, its heartbeat or commit finds the lease lost,
// the stored result stays the second worker's, and the zombie then shuts
// down cleanly leaving nothing running.
func TestZombieWorker(t *testing.T) {
	c := newCluster(t)
	zombie := c.startWorker("zombie", "--concurrency", "1", "--lease", "1s")
	ids := c.create(sleepTasks(1, "3s", "zombie"))
	id := ids[0]

	// Polled on /metrics, not with `dispatcher query`: a query is a process
	// start, which on a loaded machine can take longer than the task runs.
	fleettest.Eventually(t, 20*time.Second, func() error {
		if n := zombie.metric(t, "taskfleet_tasks_in_flight"); n != 1 {
			return fmt.Errorf("the zombie runs %v tasks, want 1", n)
		}
		return nil
	})
	zombie.requireBusy(t, 1)
	zombie.Signal(t, syscall.SIGSTOP)

	healer := c.startWorker("healer", "--concurrency", "1", "--lease", "2s")
	var final task
	fleettest.Eventually(t, 20*time.Second, func() error {
		if final = c.get(id)[0]; final.Status != "done" {
			return fmt.Errorf("the healer has not finished the task: %s", describe([]task{final}))
		}
		return nil
	})
	require.Equal(t, healer.owner, final.sleepRes(t).Worker, "result %s", final.Res)
	require.Equal(t, 2, final.Attempts)

	zombie.Signal(t, syscall.SIGCONT)
	zombie.WaitOutput(t, 20*time.Second, fleettest.Stderr, "lease lost")
	require.Equal(t, 1.0, zombie.metric(t, "taskfleet_lease_lost_total"), "zombie's lease_lost counter")
	require.Zero(t, zombie.metric(t, "taskfleet_tasks_committed_total"), "the zombie must commit nothing")
	fleettest.Eventually(t, 10*time.Second, func() error {
		if n := zombie.metric(t, "taskfleet_tasks_in_flight"); n != 0 {
			return fmt.Errorf("the zombie still has %v tasks in flight", n)
		}
		return nil
	})

	after := c.get(id)[0]
	require.Equal(t, "done", after.Status)
	require.Equal(t, 2, after.Attempts)
	res := after.sleepRes(t)
	require.Equal(t, healer.owner, res.Worker, "the zombie's result replaced the healer's: %s", after.Res)
	require.Equal(t, 2, res.Attempt)

	zombie.Signal(t, syscall.SIGTERM)
	require.Equal(t, 0, zombie.WaitExit(t, fleettest.ExitTimeout), zombie.Dump())
	require.Empty(t, c.query(`{"status": "running"}`), "tasks left running")
	require.Equal(t, map[string]int{"waiting": 0, "running": 0, "part_done": 0, "done": 1, "failed": 0}, c.stat())
}

// TestNATSOutage kills `dispatcher dev` (the NATS server) mid-run
// (reliability §7.13): the workers go on by polling, a batch created during
// the outage finishes, the failed publishes are counted; after dev restarts
// on the same port the workers reconnect, receive events again and publish
// again.
func TestNATSOutage(t *testing.T) {
	c := newCluster(t)
	listen := fleettest.FreeAddr(t)
	natsDir := t.TempDir()
	d := c.startDev(listen, "--nats-store-dir", natsDir)
	w1 := c.startWorker("nats-1", "--nats", d.url, "--concurrency", "4", "--poll-interval", "200ms")
	w2 := c.startWorker("nats-2", "--nats", d.url, "--concurrency", "4", "--poll-interval", "200ms")
	workers := []*worker{w1, w2}
	sum := func(name string, labels ...string) float64 {
		var s float64
		for _, w := range workers {
			s += w.metric(t, name, labels...)
		}
		return s
	}

	// Batch 1, with events; the server dies while it runs.
	c.create(sleepTasks(200, "20ms", "before"), "--nats", d.url)
	fleettest.Eventually(t, 20*time.Second, func() error {
		if c.stat()["done"] == 0 {
			return errors.New("batch 1 has no task done yet")
		}
		return nil
	})
	d.Kill(t)
	fleettest.Eventually(t, 10*time.Second, func() error {
		if n := sum("taskfleet_events_connected"); n != 0 {
			return fmt.Errorf("%v workers still connected to NATS after the outage", n)
		}
		return nil
	})

	c.waitAll(30 * time.Second)
	require.Equal(t, 200, c.stat()["done"], "batch 1 done during the outage")

	// Batch 2, created during the outage (without --nats: there is no
	// server to tell) while the workers are idle: only their poll finds it.
	failedBefore := sum("taskfleet_events_publish_failed_total")
	c.create(sleepTasks(50, "5ms", "during"))
	r := c.waitAll(30 * time.Second)
	require.Less(t, r.Elapsed, 10*time.Second, "batch 2 should be found within a poll interval (200ms)")
	require.Equal(t, 250, c.stat()["done"], "batches 1 and 2 done during the outage")
	failedDuring := sum("taskfleet_events_publish_failed_total") - failedBefore
	require.Positive(t, failedDuring, "the commits of batch 2 published events into the outage: they must be counted as failed")

	// The server comes back on the same port and store directory.
	d2 := c.startDev(listen, "--nats-store-dir", natsDir)
	fleettest.Eventually(t, 20*time.Second, func() error {
		if n := sum("taskfleet_events_connected"); n != 2 {
			return fmt.Errorf("%v of the 2 workers reconnected", n)
		}
		return nil
	})
	for _, w := range workers {
		require.GreaterOrEqual(t, w.metric(t, "taskfleet_events_reconnects_total"), 1.0, w.owner)
	}
	received := map[string]float64{}
	for _, w := range workers {
		received[w.owner] = w.metric(t, "taskfleet_events_received_total", "event", "work")
	}
	published := sum("taskfleet_events_published_total", "event", "committed")

	// Batch 3, with events again.
	ids := c.create(sleepTasks(50, "5ms", "after"), "--nats", d2.url)
	c.waitAll(30*time.Second, "--nats", d2.url)
	for _, tk := range c.query("") {
		require.Equal(t, "done", tk.Status, "task %s", tk.ID)
		require.Equal(t, 1, tk.Attempts, "task %s", tk.ID)
	}
	require.Len(t, c.query(`{"filter.batch": "after", "status": "done"}`), len(ids))
	fleettest.Eventually(t, 10*time.Second, func() error {
		if n := sum("taskfleet_events_published_total", "event", "committed"); n <= published {
			return fmt.Errorf("no committed event acknowledged after the restart: %v published, %v before it\n%s", n, published, w1.scrape(t).Text)
		}
		return nil
	})
	for _, w := range workers {
		got := w.metric(t, "taskfleet_events_received_total", "event", "work")
		require.Greater(t, got, received[w.owner], "%s took no work-queue wake-up after the restart", w.owner)
	}

	require.Equal(t, 0, d2.Stop(t), "dev after SIGTERM\n%s", d2.Dump())
}

// TestNATSDownAtStart starts a worker and creates tasks while the NATS
// server they are pointed at is not running (reliability §7.13, "NATS down
// at start"): events are hints, so the worker must run and finish the tasks
// by polling, create must not fail, and once the server is up the worker
// connects and takes events again.
func TestNATSDownAtStart(t *testing.T) {
	c := newCluster(t)
	listen := fleettest.FreeAddr(t)
	url := "nats://" + listen
	w := c.startWorker("no-nats-yet", "--nats", url, "--poll-interval", "100ms")
	ids := c.create(sleepTasks(5, "1ms", "nats-down"), "--nats", url)
	c.waitAll(30 * time.Second)
	for _, tk := range c.get(ids...) {
		require.Equal(t, "done", tk.Status, "task %s", tk.ID)
		require.Equal(t, w.owner, tk.sleepRes(t).Worker)
	}
	connected, _ := w.scrape(t).Sum("taskfleet_events_connected")
	require.Zero(t, connected)

	d := c.startDev(listen)
	fleettest.Eventually(t, 20*time.Second, func() error {
		if v, _ := w.scrape(t).Sum("taskfleet_events_connected"); v != 1 {
			return errors.New("the worker has not connected to NATS")
		}
		return nil
	})
	before, _ := w.scrape(t).Sum("taskfleet_events_received_total", "event", "work")
	c.create(sleepTasks(5, "1ms", "nats-up"), "--nats", d.url)
	c.waitAll(30*time.Second, "--nats", d.url)
	require.Greater(t, w.metric(t, "taskfleet_events_received_total", "event", "work"), before, "no work-queue wake-up taken once NATS is up")
}
