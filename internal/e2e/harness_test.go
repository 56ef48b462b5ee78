//go:build unix

package e2e_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/fleettest"
)

// cluster is one test's fleet: a SQLite store in a temporary directory, a
// pool, and the processes started on it.
type cluster struct {
	t     *testing.T
	bin   fleettest.Binaries
	dir   string
	store string // sqlite://PATH, or a mongodb:// URI
	db    string // the MongoDB database (TASKFLEET_DB) of a mongodb:// store
	pool  string

	mu    sync.Mutex
	procs []*fleettest.Proc
	files int
}

// newCluster returns an empty cluster; on failure the test's log gets the
// output of every long-running process it started.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped in -short mode")
	}
	dir := t.TempDir()
	c := &cluster{t: t, bin: fleettest.Build(t), dir: dir, store: "sqlite://" + filepath.Join(dir, "tasks.db"), pool: "e2e"}
	require.NoError(t, os.Mkdir(c.tmp(), 0o700))
	// Registered before any process: runs after they are all killed.
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("processes of " + t.Name() + ":\n" + c.dump())
		}
	})
	return c
}

// env is the environment of the cluster's processes: the store and pool
// come from TASKFLEET_STORE and TASKFLEET_POOL, logs are JSON, and
// temporary files (a killed worker's program work roots among them) go to
// the cluster's tmp directory.
func (c *cluster) env(extra ...string) []string {
	env := []string{"TASKFLEET_STORE=" + c.store, "TASKFLEET_POOL=" + c.pool, "TASKFLEET_LOG_FORMAT=json", "TMPDIR=" + c.tmp()}
	if c.db != "" {
		env = append(env, "TASKFLEET_DB="+c.db)
	}
	return fleettest.Env(append(env, extra...)...)
}

// tmp is the cluster's temporary directory ($TMPDIR of its processes),
// made by newCluster.
func (c *cluster) tmp() string { return filepath.Join(c.dir, "tmp") }

// start starts a long-running process and remembers it for dump.
func (c *cluster) start(name, path string, env []string, args ...string) *fleettest.Proc {
	c.t.Helper()
	return c.startCmd(fleettest.Cmd{Name: name, Path: path, Args: args, Env: env})
}

// startCmd starts cmd, a long-running process, and remembers it for dump.
func (c *cluster) startCmd(cmd fleettest.Cmd) *fleettest.Proc {
	c.t.Helper()
	p := fleettest.Start(c.t, cmd)
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p
}

func (c *cluster) dump() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, p := range c.procs {
		b.WriteString(p.Dump())
		b.WriteString("\n")
	}
	return b.String()
}

// dispatcher runs a dispatcher command with the cluster's environment.
func (c *cluster) dispatcher(args ...string) fleettest.Result {
	c.t.Helper()
	return fleettest.Run(c.t, fleettest.Cmd{Path: c.bin.Dispatcher, Args: args, Env: c.env()})
}

// mustDispatcher runs a dispatcher command that must exit 0 and returns its
// stdout.
func (c *cluster) mustDispatcher(args ...string) string {
	c.t.Helper()
	r := c.dispatcher(args...)
	require.Equal(c.t, 0, r.Code, "%s\n%s", r, c.dump())
	return r.Stdout
}

// dev is a running `dispatcher dev`.
type dev struct {
	*fleettest.Proc
	url string // nats://HOST:PORT
}

// startDev starts `dispatcher dev` on listen (reaping every 100 ms with a
// 1 s grace, JetStream files in the test's directory, unless args say
// otherwise) and waits for its ready line.
func (c *cluster) startDev(listen string, args ...string) *dev {
	c.t.Helper()
	all := append([]string{"dev", "--nats-listen", listen, "--reap-interval", "100ms", "--reap-grace", "1s",
		"--nats-store-dir", c.t.TempDir()}, args...)
	p := c.start("dev@"+listen, c.bin.Dispatcher, c.env(), all...)
	line := p.WaitOutput(c.t, fleettest.StartTimeout, fleettest.Stdout, "nats listening on ")
	_, url, _ := strings.Cut(line, "nats listening on ")
	url = strings.TrimSpace(url)
	require.Equal(c.t, "nats://"+listen, url, "dev's ready line\n%s", p.Dump())
	return &dev{Proc: p, url: url}
}

// worker is a running worker with a metrics server.
type worker struct {
	*fleettest.Proc
	owner   string
	metrics string // HOST:PORT
}

// startWorker starts a worker named owner and waits until it runs. Its
// defaults (short lease, fast polling and reaping) come first in its
// arguments, so args override them.
func (c *cluster) startWorker(owner string, args ...string) *worker {
	c.t.Helper()
	return c.startWorkerIn(owner, "", nil, append([]string{"--kinds", "sleep,noop"}, args...)...)
}

// startWorkerIn starts a worker like startWorker, but with the worker's own
// default kinds (every built-in and program), in directory dir ("": the
// test's) with extra environment variables ("K=V").
func (c *cluster) startWorkerIn(owner, dir string, env []string, args ...string) *worker {
	c.t.Helper()
	addr := fleettest.FreeAddr(c.t)
	all := append([]string{
		"--owner", owner, "--metrics-addr", addr,
		"--lease", "2s", "--poll-interval", "100ms", "--reap-interval", "100ms", "--reap-grace", "1s", "--drain-timeout", "2s",
	}, args...)
	p := c.startCmd(fleettest.Cmd{Name: "worker " + owner, Path: c.bin.Worker, Args: all, Env: c.env(env...), Dir: dir})
	p.WaitLog(c.t, fleettest.StartTimeout, "worker started", fleettest.LogMsg("worker started"))
	return &worker{Proc: p, owner: owner, metrics: addr}
}

// requireBusy checks, through /metrics, that the worker is running n tasks
// and has committed none: the premise of a test about to signal it, checked
// just before the signal (a query run a moment earlier may be stale).
func (w *worker) requireBusy(t testing.TB, n int) {
	t.Helper()
	m := w.scrape(t)
	inFlight, _ := m.Sum("taskfleet_tasks_in_flight")
	committed, _ := m.Sum("taskfleet_tasks_committed_total")
	require.True(t, inFlight == float64(n) && committed == 0,
		"%s should be running %d tasks and have committed none; in flight %v, committed %v (the machine is too slow for this test's timing?)\n%s",
		w.Name(), n, inFlight, committed, w.Dump())
}

// scrape returns the worker's /metrics.
func (w *worker) scrape(t testing.TB) fleettest.Metrics {
	t.Helper()
	return fleettest.Scrape(t, w.metrics)
}

// metric scrapes the worker and sums the series of name whose labels
// include labels (name, value pairs).
func (w *worker) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	v, ok := w.scrape(t).Sum(name, labels...)
	require.True(t, ok, "%s has no metric %s%q", w.Name(), name, labels)
	return v
}

// spec is an entry of a task file.
type spec struct {
	Kind        string         `json:"kind"`
	Def         map[string]any `json:"def"`
	Priority    int            `json:"priority,omitempty"`
	MaxAttempts int            `json:"max_attempts,omitempty"`
}

// sleepTasks returns n sleep tasks of the given duration with distinct
// defs (batch names them apart from other calls).
func sleepTasks(n int, duration, batch string) []spec {
	out := make([]spec, n)
	for i := range out {
		out[i] = spec{Kind: "sleep", Def: map[string]any{"duration": duration, "batch": batch, "seq": i}}
	}
	return out
}

// create writes specs to a task file, runs `dispatcher create -o json` with
// extra flags and returns the ids.
func (c *cluster) create(specs []spec, extra ...string) []string {
	c.t.Helper()
	c.mu.Lock()
	c.files++
	path := filepath.Join(c.dir, fmt.Sprintf("tasks-%d.json", c.files))
	c.mu.Unlock()
	data, err := json.Marshal(specs)
	require.NoError(c.t, err)
	require.NoError(c.t, os.WriteFile(path, data, 0o644))
	out := c.mustDispatcher(append([]string{"create", "-f", path, "-o", "json"}, extra...)...)
	var ids []string
	require.NoError(c.t, json.Unmarshal([]byte(out), &ids), "create output: %s", out)
	require.Len(c.t, ids, len(specs), "create output: %s", out)
	return ids
}

// task is a task as `query -o json` and `get -o json` print it.
type task struct {
	ID          string          `json:"id"`
	Status      string          `json:"status"`
	Kind        string          `json:"kind"`
	Priority    int             `json:"priority"`
	Attempts    int             `json:"attempts"`
	MaxAttempts int             `json:"max_attempts"`
	LastError   string          `json:"last_error"`
	Owner       string          `json:"owner"`
	LeaseUntil  *time.Time      `json:"lease_until"`
	Filter      map[string]any  `json:"filter"`
	StartedAt   *time.Time      `json:"started_at"`
	FinishedAt  *time.Time      `json:"finished_at"`
	Res         json.RawMessage `json:"res"`
}

// sleepResult is the result the sleep kind commits.
type sleepResult struct {
	Slept   string `json:"slept"`
	Attempt int    `json:"attempt"`
	Worker  string `json:"worker"`
}

// sleepRes decodes the task's result; it fails the test when there is none.
func (tk task) sleepRes(t testing.TB) sleepResult {
	t.Helper()
	var r sleepResult
	require.NotEmpty(t, tk.Res, "task %s has no result: %+v", tk.ID, tk)
	require.NoError(t, json.Unmarshal(tk.Res, &r), "task %s result %s", tk.ID, tk.Res)
	return r
}

// query returns the pool's tasks matching filter (JSON; empty: all).
func (c *cluster) query(filter string) []task {
	c.t.Helper()
	args := []string{"query", "-o", "json"}
	if filter != "" {
		args = append(args, "--filter", filter)
	}
	out := c.mustDispatcher(args...)
	var ts []task
	require.NoError(c.t, json.Unmarshal([]byte(out), &ts), "query output: %s", out)
	return ts
}

// byID indexes tasks by id.
func byID(ts []task) map[string]task {
	m := make(map[string]task, len(ts))
	for _, t := range ts {
		m[t.ID] = t
	}
	return m
}

// get returns the tasks with their results, in the order of ids.
func (c *cluster) get(ids ...string) []task {
	c.t.Helper()
	var all []task
	for len(ids) > 0 {
		n := min(len(ids), 500)
		chunk := ids[:n]
		ids = ids[n:]
		out := c.mustDispatcher(append([]string{"get", "-o", "json"}, chunk...)...)
		if len(chunk) == 1 {
			var one task
			require.NoError(c.t, json.Unmarshal([]byte(out), &one), "get output: %s", out)
			all = append(all, one)
			continue
		}
		var some []task
		require.NoError(c.t, json.Unmarshal([]byte(out), &some), "get output: %s", out)
		require.Len(c.t, some, len(chunk), "get output: %s", out)
		all = append(all, some...)
	}
	return all
}

// stat returns the pool's counts by status.
func (c *cluster) stat() map[string]int {
	c.t.Helper()
	out := c.mustDispatcher("stat", "-o", "json")
	var counts map[string]int
	require.NoError(c.t, json.Unmarshal([]byte(out), &counts), "stat output: %s", out)
	return counts
}

// waitAll runs `dispatcher wait` with timeout and extra flags; every task
// must finish: exit 0, or 4 when some ended failed (the caller checks the
// statuses it expects).
func (c *cluster) waitAll(timeout time.Duration, extra ...string) fleettest.Result {
	c.t.Helper()
	r := c.dispatcher(append([]string{"wait", "--quiet", "--timeout", timeout.String()}, extra...)...)
	require.Contains(c.t, []int{0, 4}, r.Code, "wait\n%s\n%s", r, c.dump())
	return r
}

// logText returns stderr with every JSON log record replaced by its
// message, so that a test can look for an error's text whatever
// --log-format the process ran with.
func logText(stderr string) string {
	lines := strings.Split(stderr, "\n")
	for i, line := range lines {
		var rec struct {
			Msg *string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg != nil {
			lines[i] = *rec.Msg
		}
	}
	return strings.Join(lines, "\n")
}

// describe renders tasks for a failure message.
func describe(ts []task) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "%s %s attempts=%d owner=%q last_error=%q res=%s\n", t.ID, t.Status, t.Attempts, t.Owner, t.LastError, t.Res)
	}
	return b.String()
}
