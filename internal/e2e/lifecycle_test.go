//go:build unix

package e2e_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/fleettest"
)

// TestPoisonTask runs a task that always fails and one that panics among 50
// healthy ones (reliability §7.20): the failing one ends failed after its 3
// attempts with the handler's error, the panicking one fails without taking
// the worker down, and the 50 others are done after one attempt.
func TestPoisonTask(t *testing.T) {
	c := newCluster(t)
	w := c.startWorker("poison", "--concurrency", "4")
	specs := sleepTasks(50, "1ms", "healthy")
	specs = append(specs,
		spec{Kind: "sleep", Def: map[string]any{"duration": "1ms", "fail_attempts": 99}, MaxAttempts: 3},
		spec{Kind: "sleep", Def: map[string]any{"duration": "1ms", "panic": true}, MaxAttempts: 1},
	)
	ids := c.create(specs)
	poison, panicky := ids[50], ids[51]

	c.waitAll(time.Minute)
	require.Equal(t, map[string]int{"waiting": 0, "running": 0, "part_done": 0, "done": 50, "failed": 2}, c.stat())

	tasks := byID(c.query(""))
	p := tasks[poison]
	require.Equal(t, "failed", p.Status, describe([]task{p}))
	require.Equal(t, 3, p.Attempts, describe([]task{p}))
	require.Contains(t, p.LastError, "failure requested", describe([]task{p}))
	pp := tasks[panicky]
	require.Equal(t, "failed", pp.Status, describe([]task{pp}))
	require.Equal(t, 1, pp.Attempts, describe([]task{pp}))
	require.Contains(t, pp.LastError, "panic", describe([]task{pp}))
	for _, id := range ids[:50] {
		require.Equal(t, "done", tasks[id].Status, describe([]task{tasks[id]}))
		require.Equal(t, 1, tasks[id].Attempts, describe([]task{tasks[id]}))
	}

	require.False(t, w.Exited(), "the worker died\n%s", w.Dump())
	require.Equal(t, 50.0, w.metric(t, "taskfleet_tasks_committed_total"))
	require.Equal(t, 2.0, w.metric(t, "taskfleet_tasks_retried_total"), "the poison task's first two attempts")
	require.Equal(t, 2.0, w.metric(t, "taskfleet_tasks_failed_total"))
}

// TestSIGTERMReturnsInFlightTasks stops a worker whose four tasks cannot
// finish within the drain timeout (reliability §7.21): it exits 0 soon
// after the drain timeout, and its tasks are back to waiting without a
// spent attempt (a shutdown is not a failure), nothing left running.
func TestSIGTERMReturnsInFlightTasks(t *testing.T) {
	c := newCluster(t)
	const drain = 500 * time.Millisecond
	w := c.startWorker("drainer", "--concurrency", "4", "--drain-timeout", drain.String(), "--lease", "5s")
	ids := c.create(sleepTasks(6, "5s", "long"))

	var inFlight []task
	fleettest.Eventually(t, 20*time.Second, func() error {
		if inFlight = c.running(w.owner); len(inFlight) != 4 {
			return fmt.Errorf("the worker runs %d tasks, want 4", len(inFlight))
		}
		return nil
	})
	w.requireBusy(t, 4)
	sent := time.Now()
	w.Signal(t, syscall.SIGTERM)
	code := w.WaitExit(t, fleettest.ExitTimeout)
	elapsed := time.Since(sent)
	require.Equal(t, 0, code, w.Dump())
	require.Less(t, elapsed, drain+3*time.Second, "exit after SIGTERM took %s with a %s drain timeout", elapsed, drain)
	require.GreaterOrEqual(t, elapsed, drain, "the worker did not wait for the drain timeout")

	tasks := c.get(ids...)
	for _, tk := range tasks {
		require.Equal(t, "waiting", tk.Status, describe(tasks))
		require.Equal(t, 0, tk.Attempts, "a shutdown must not spend an attempt\n%s", describe(tasks))
		require.Empty(t, tk.Owner, describe(tasks))
		require.Empty(t, tk.Res, describe(tasks))
	}
	require.Equal(t, 4, strings.Count(w.Stderr(), "returned to the pool on shutdown"), w.Dump())
}

// TestSIGTERMDrainsInFlightTasks stops a worker whose four tasks finish
// within the drain timeout: they end done, and no task is claimed after the
// SIGTERM even though slots free up (the four others stay waiting).
func TestSIGTERMDrainsInFlightTasks(t *testing.T) {
	c := newCluster(t)
	// The in-flight tasks last 3s so that they are still running when the
	// test checks its premise and signals, even on a loaded machine.
	const drain = 10 * time.Second
	w := c.startWorker("finisher", "--concurrency", "4", "--drain-timeout", drain.String())
	// The worker claims only as many tasks as it has free slots, highest
	// priority first: it takes the four 3s tasks and leaves the others.
	specs := sleepTasks(4, "3s", "in-flight")
	for i := range specs {
		specs[i].Priority = 10
	}
	specs = append(specs, sleepTasks(4, "100ms", "queued")...)
	ids := c.create(specs)

	fleettest.Eventually(t, 20*time.Second, func() error {
		if n := len(c.running(w.owner)); n != 4 {
			return fmt.Errorf("the worker runs %d tasks, want the 4 priority ones", n)
		}
		return nil
	})
	w.requireBusy(t, 4)
	sent := time.Now()
	w.Signal(t, syscall.SIGTERM)
	code := w.WaitExit(t, drain+fleettest.ExitTimeout)
	elapsed := time.Since(sent)
	require.Equal(t, 0, code, w.Dump())
	require.Less(t, elapsed, drain, "the in-flight tasks need about 3s; the drain timeout must not be reached")
	require.NotContains(t, w.Stderr(), "drain timeout reached", w.Dump())

	tasks := c.get(ids...)
	for i, tk := range tasks {
		if i < 4 {
			require.Equal(t, "done", tk.Status, "in-flight task\n%s", describe(tasks))
			require.Equal(t, 1, tk.Attempts, describe(tasks))
			require.Equal(t, w.owner, tk.sleepRes(t).Worker, describe(tasks))
			require.True(t, tk.StartedAt.Before(sent), "claimed at %s, after the SIGTERM at %s", tk.StartedAt, sent)
			continue
		}
		require.Equal(t, "waiting", tk.Status, "claimed after the SIGTERM\n%s", describe(tasks))
		require.Equal(t, 0, tk.Attempts, describe(tasks))
	}
}

// TestWaitTimeoutListsStuckTasks waits on a pool nobody works on: a task
// whose worker was killed (no reaper runs) and three waiting tasks (§7.17).
// `wait --timeout 300ms` exits 3 and prints every stuck task, the dead one
// with its owner and lease expiry.
func TestWaitTimeoutListsStuckTasks(t *testing.T) {
	c := newCluster(t)
	w := c.startWorker("dead-owner", "--concurrency", "1", "--reap-interval", "0", "--lease", "30s")
	dead := c.create([]spec{{Kind: "sleep", Def: map[string]any{"duration": "1h"}}})[0]
	fleettest.Eventually(t, 20*time.Second, func() error {
		if n := len(c.running(w.owner)); n != 1 {
			return fmt.Errorf("the worker runs %d tasks, want 1", n)
		}
		return nil
	})
	w.Kill(t)
	waiting := c.create(sleepTasks(3, "1ms", "stuck"))

	r := c.dispatcher("wait", "--quiet", "--timeout", "300ms")
	require.Equal(t, 3, r.Code, r.String())
	require.GreaterOrEqual(t, r.Elapsed, 300*time.Millisecond, r.String())
	for _, id := range waiting {
		require.Contains(t, r.Stdout, id, "stuck task missing\n%s", r)
	}
	tk := c.get(dead)[0]
	require.Equal(t, "running", tk.Status)
	require.NotNil(t, tk.LeaseUntil, describe([]task{tk}))
	line := lineWith(r.Stdout, dead)
	require.NotEmpty(t, line, "dead task missing\n%s", r)
	require.Contains(t, line, "running", r.String())
	require.Contains(t, line, "dead-owner", r.String())
	require.Contains(t, line, tk.LeaseUntil.Local().Format(time.RFC3339), "lease expiry\n%s", r)
}

// TestWaitReturnsAtOnceWhenFinished checks that `wait` on a finished pool,
// and on an empty one, returns 0 at once, far within its timeout.
func TestWaitReturnsAtOnceWhenFinished(t *testing.T) {
	c := newCluster(t)
	w := c.startWorker("quick", "--concurrency", "4")
	specs := make([]spec, 20)
	for i := range specs {
		specs[i] = spec{Kind: "noop", Def: map[string]any{"i": i}}
	}
	c.create(specs)
	c.waitAll(time.Minute)
	w.Signal(t, syscall.SIGTERM)
	require.Equal(t, 0, w.WaitExit(t, fleettest.ExitTimeout), w.Dump())

	for _, pool := range []string{c.pool, "empty"} {
		r := c.dispatcher("wait", "--quiet", "--timeout", "60s", "--pool", pool, "--allow-missing")
		require.Equal(t, 0, r.Code, r.String())
		require.Less(t, r.Elapsed, 5*time.Second, "wait on a finished pool must return at once\n%s", r)
	}
	require.Equal(t, 20, c.stat()["done"])
}

// lineWith returns the first line of s containing substr.
func lineWith(s, substr string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			return l
		}
	}
	return ""
}
