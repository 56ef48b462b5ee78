//go:build unix

package e2e_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/fleettest"
)

// opsLease is the lease of the ops tests' worker: it heartbeats every
// opsLease/3, which bounds how long a cancelled task's handler may run on.
const opsLease = 6 * time.Second

// TestOpsSQLite runs the operator's commands (workers, create's warning,
// pause, resume, cancel, retry-failed) against real processes on SQLite.
func TestOpsSQLite(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	testOps(t, c, "100ms")
}

// TestOpsMongo is TestOpsSQLite on the Mongo-wire test server (through
// its serialising proxy, so single commands are atomic as on MongoDB).
func TestOpsMongo(t *testing.T) {
	t.Parallel()
	uri := os.Getenv(envMongoProxyURI)
	if uri == "" {
		t.Skipf("%s is not set: no serialised Mongo-wire server (run through tools/mongotestserver/with-server.sh)", envMongoProxyURI)
	}
	c := newCluster(t)
	c.store, c.pool = uri, mongoPool(t, uri)
	testOps(t, c, "300ms")
}

// workerEntry is an entry of `dispatcher workers -o json`.
type workerEntry struct {
	ID          string    `json:"id"`
	Host        string    `json:"host"`
	PID         int       `json:"pid"`
	Kinds       []string  `json:"kinds"`
	Concurrency int       `json:"concurrency"`
	Version     string    `json:"version"`
	SeenAt      time.Time `json:"seen_at"`
}

func testOps(t *testing.T, c *cluster, poll string) {
	w := c.startWorker("ops-a", "--concurrency", "2", "--lease", opsLease.String(), "--poll-interval", poll)

	// The worker registered itself, with its kinds.
	var entry workerEntry
	fleettest.Eventually(t, 20*time.Second, func() error {
		var ws []workerEntry
		if err := json.Unmarshal([]byte(c.mustDispatcher("workers", "-o", "json")), &ws); err != nil {
			return err
		}
		if len(ws) != 1 {
			return fmt.Errorf("want 1 live worker, got %+v", ws)
		}
		entry = ws[0]
		return nil
	})
	require.Equal(t, "ops-a", entry.ID)
	require.Equal(t, []string{"noop", "sleep"}, entry.Kinds)
	require.Equal(t, 2, entry.Concurrency)
	require.Equal(t, w.PID(), entry.PID)
	require.NotEmpty(t, entry.Host)
	table := c.mustDispatcher("workers")
	require.Contains(t, table, "ops-a")
	require.Contains(t, table, "noop,sleep")

	// create warns about a kind no live worker serves, and only about it.
	r := c.createRaw([]spec{{Kind: "linear", Def: map[string]any{"x": 1}}, {Kind: "noop", Def: map[string]any{"x": 1}}})
	require.Equal(t, 0, r.Code, "%s", r)
	var warned []string
	for _, line := range strings.Split(strings.TrimSpace(r.Stderr), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["level"] == "warn" && strings.HasPrefix(fmt.Sprint(rec["msg"]), "no live worker serves this kind") {
			require.Equal(t, c.pool, rec["pool"], line)
			warned = append(warned, fmt.Sprint(rec["kind"]))
		}
	}
	require.Equal(t, []string{"linear"}, warned, "create warns about the kind no live worker serves, and only about it:\n%s", r.Stderr)
	linear := c.query(`{"kind": "linear"}`)
	require.Len(t, linear, 1)
	c.mustDispatcher("remove", linear[0].ID)

	// Pause while a task runs: it finishes, nothing new is claimed.
	running := c.create(sleepTasks(1, "2s", "before-pause"))[0]
	c.waitStatus(running, "running")
	require.Contains(t, c.mustDispatcher("pause", "--reason", "maintenance"), "paused since")
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(c.mustDispatcher("stat", "-o", "json")), &st))
	require.Equal(t, true, st["paused"], "stat -o json: %v", st)
	require.Contains(t, c.mustDispatcher("stat"), "maintenance")
	exporter := c.start("exporter", c.bin.Dispatcher, c.env(), "exporter", "--metrics-addr", "127.0.0.1:0")
	rec := exporter.WaitLog(t, fleettest.StartTimeout, "serving pool metrics", fleettest.LogMsg("serving pool metrics"))
	exporterAddr, _ := rec["addr"].(string)
	paused := func() float64 {
		v, ok := fleettest.Scrape(t, exporterAddr).Sum("taskfleet_pool_paused", "pool", c.pool)
		require.True(t, ok, "the exporter serves no taskfleet_pool_paused for pool %s", c.pool)
		return v
	}
	require.Equal(t, 1.0, paused(), "taskfleet_pool_paused while paused")
	held := c.create(sleepTasks(2, "60s", "while-paused"))
	c.waitStatus(running, "done")
	claimed := w.metric(t, "taskfleet_tasks_claimed_total")
	require.Equal(t, 2.0, claimed, "the noop task and the one that ran through the pause, and none while paused")
	for _, tk := range c.get(held...) {
		require.Equal(t, "waiting", tk.Status, "task %s was claimed from a paused pool", tk.ID)
	}

	// Cancel a waiting task: it ends failed with the reason at once.
	out := c.mustDispatcher("cancel", "--id", held[0], "--reason", "wrong window")
	require.Contains(t, out, "cancelled: 1 tasks")
	tk := c.get(held[0])[0]
	require.Equal(t, "failed", tk.Status)
	require.Equal(t, "cancelled: wrong window", tk.LastError)

	// Resume: the other one is claimed; cancelling it ends its handler
	// within one heartbeat, and the worker's result is fenced off.
	require.Contains(t, c.mustDispatcher("resume"), "not paused")
	st = nil // Unmarshal would merge into the old map
	require.NoError(t, json.Unmarshal([]byte(c.mustDispatcher("stat", "-o", "json")), &st))
	require.NotContains(t, st, "paused")
	fleettest.Eventually(t, 10*time.Second, func() error { // the exporter reads the store at most once a second
		if v := paused(); v != 0 {
			return fmt.Errorf("taskfleet_pool_paused %v after resume", v)
		}
		return nil
	})
	c.waitStatus(held[1], "running")
	fleettest.Eventually(t, 10*time.Second, func() error {
		if v := w.metric(t, "taskfleet_tasks_in_flight"); v != 1 {
			return fmt.Errorf("in flight %v, want 1", v)
		}
		return nil
	})
	start := time.Now()
	out = c.mustDispatcher("cancel", "--filter", `{"filter.batch": "while-paused"}`, "--reason", "bad data")
	require.Contains(t, out, "cancelled: 1 tasks", "the one already cancelled is not counted again")
	fleettest.Eventually(t, opsLease, func() error {
		if v := w.metric(t, "taskfleet_lease_lost_total"); v != 1 {
			return fmt.Errorf("lease lost %v, want 1", v)
		}
		return nil
	})
	took := time.Since(start)
	// One heartbeat interval, plus slack for a loaded machine; still less
	// than the lease, after which a lease could have ended on its own.
	require.Less(t, took, opsLease/3+3*time.Second, "the handler should end within one heartbeat (%v) of the cancel", opsLease/3)
	require.Zero(t, w.metric(t, "taskfleet_tasks_in_flight"))
	w.WaitOutput(t, 10*time.Second, fleettest.Stderr, "lease lost")
	tk = c.get(held[1])[0]
	require.Equal(t, "failed", tk.Status)
	require.Equal(t, "cancelled: bad data", tk.LastError)
	require.Empty(t, tk.Res, "no result from the cancelled run")
	t.Logf("cancelled handler ended %v after the cancel", took.Round(time.Millisecond))

	// retry-failed leaves cancelled tasks alone unless asked.
	require.Contains(t, c.mustDispatcher("retry-failed"), "retrying: 0 tasks")
	require.Equal(t, "failed", c.get(held[0])[0].Status)
	require.Contains(t, c.mustDispatcher("retry-failed", "--include-cancelled", held[0]), "retrying: 1 tasks")
	c.waitStatus(held[0], "running")
	c.mustDispatcher("cancel", held[0], "--reason", "done testing")
	c.waitStatus(held[0], "failed")

	// A stopped worker leaves the registry.
	require.Equal(t, 0, w.Stop(t), "worker exit\n%s", w.Dump())
	var ws []workerEntry
	require.NoError(t, json.Unmarshal([]byte(c.mustDispatcher("workers", "-o", "json")), &ws))
	require.Empty(t, ws)
}

// createRaw runs `dispatcher create` on specs and returns its result.
func (c *cluster) createRaw(specs []spec) fleettest.Result {
	c.t.Helper()
	c.mu.Lock()
	c.files++
	path := filepath.Join(c.dir, fmt.Sprintf("tasks-%d.json", c.files))
	c.mu.Unlock()
	data, err := json.Marshal(specs)
	require.NoError(c.t, err)
	require.NoError(c.t, os.WriteFile(path, data, 0o644))
	return c.dispatcher("create", "-f", path, "-o", "json")
}

// waitStatus waits until the task is in one of the statuses.
func (c *cluster) waitStatus(id string, statuses ...string) {
	c.t.Helper()
	fleettest.Eventually(c.t, 30*time.Second, func() error {
		tk := c.get(id)[0]
		if !slices.Contains(statuses, tk.Status) {
			return fmt.Errorf("task %s is %s, want %s", id, tk.Status, strings.Join(statuses, " or "))
		}
		return nil
	})
}
