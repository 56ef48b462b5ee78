//go:build unix

package e2e_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Timeouts of the harness. They bound waits; nothing sleeps for them.
const (
	cmdTimeout   = 60 * time.Second // a dispatcher command that should end by itself
	startTimeout = 20 * time.Second // a process printing its ready line
	exitTimeout  = 15 * time.Second // a process exiting after a signal
)

// syncBuffer is a bytes.Buffer safe for concurrent use: a process's output
// is written by exec's copying goroutine and read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a started binary in its own process group.
type proc struct {
	name   string
	args   []string
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	done   chan struct{} // closed when the process has exited and its output is read
	err    error         // cmd.Wait's error; read after done
}

// startProc starts path with args and env. The process is killed (its whole
// group) when the test ends, and its output is checked for race reports.
func startProc(t testing.TB, name string, env []string, path string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, args: args, done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Env = env
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	p.cmd.SysProcAttr = sysProcAttr()
	require.NoError(t, p.cmd.Start(), "start %s", name)
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		if strings.Contains(p.stderr.String(), "WARNING: DATA RACE") || strings.Contains(p.stdout.String(), "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race:\n%s", name, p.dump())
		}
	})
	return p
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process (not its group).
func (p *proc) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	require.NoError(t, syscall.Kill(p.pid(), sig), "signal %v to %s\n%s", sig, p.name, p.dump())
}

// killGroup sends SIGKILL to the process group and waits for the exit.
func (p *proc) killGroup(t testing.TB) {
	t.Helper()
	require.NoError(t, syscall.Kill(-p.pid(), syscall.SIGKILL), "kill %s", p.name)
	p.waitExit(t, exitTimeout)
}

// waitExit waits for the process to exit and returns its exit code (-1 when
// a signal ended it).
func (p *proc) waitExit(t testing.TB, timeout time.Duration) int {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		t.Fatalf("%s did not exit within %s\n%s", p.name, timeout, p.dump())
	}
	return p.exitCode()
}

// exitCode is the exit code of an exited process.
func (p *proc) exitCode() int {
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		return -2 // Wait itself failed
	}
	return p.cmd.ProcessState.ExitCode()
}

// waitOutput waits until the process's stdout or stderr (as stream says)
// contains substr.
func (p *proc) waitOutput(t testing.TB, timeout time.Duration, stream, substr string) {
	t.Helper()
	buf := &p.stderr
	if stream == "stdout" {
		buf = &p.stdout
	}
	eventually(t, timeout, fmt.Sprintf("%s to print %q on %s", p.name, substr, stream), func() bool {
		return strings.Contains(buf.String(), substr) || p.exited()
	}, p.dump)
	require.Contains(t, buf.String(), substr, "%s exited before printing it\n%s", p.name, p.dump())
}

// dump renders the process's command line, state and output (the tail of
// each stream) for a failure message.
func (p *proc) dump() string {
	state := "running"
	if p.exited() {
		state = fmt.Sprintf("exited: %v (code %d)", p.err, p.exitCode())
	}
	return fmt.Sprintf("=== %s [%s] %s\n--- stdout\n%s\n--- stderr\n%s", p.name, state, strings.Join(p.args, " "),
		tail(p.stdout.String(), 16<<10), tail(p.stderr.String(), 16<<10))
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "[…]" + s[len(s)-n:]
}

// eventually polls cond every 20 ms until it holds, and fails the test with
// diag's output when timeout passes first.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool, diag func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			msg := ""
			if diag != nil {
				msg = diag()
			}
			t.Fatalf("timed out after %s waiting for %s\n%s", timeout, what, msg)
		}
		<-tick.C
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// baseEnv is the test's environment without any TASKFLEET_ variable, so a
// developer's settings cannot leak into the processes under test. A
// race-built binary would otherwise sleep 1s before exiting
// (atexit_sleep_ms), which every dispatcher command would pay.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TASKFLEET_") && !strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	return append(env, strings.TrimSpace("GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0"))
}

// cluster is one test's fleet: a SQLite store in a temporary directory, a
// pool, and the processes started on it.
type cluster struct {
	t     *testing.T
	dir   string
	store string // sqlite://PATH
	pool  string

	mu    sync.Mutex
	procs []*proc
	files int
}

// newCluster returns an empty cluster; on failure the test's log gets the
// output of every long-running process it started.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	if bin.dispatcher == "" {
		t.Skip("end-to-end test: skipped in -short mode")
	}
	dir := t.TempDir()
	c := &cluster{t: t, dir: dir, store: "sqlite://" + filepath.Join(dir, "tasks.db"), pool: "e2e"}
	// Registered before any process: runs after they are all killed.
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("processes of " + t.Name() + ":\n" + c.dump())
		}
	})
	return c
}

// env is the environment of the cluster's processes: the store and pool
// come from TASKFLEET_STORE and TASKFLEET_POOL, logs are JSON.
func (c *cluster) env(extra ...string) []string {
	return append(baseEnv(), append([]string{
		"TASKFLEET_STORE=" + c.store, "TASKFLEET_POOL=" + c.pool, "TASKFLEET_LOG_FORMAT=json",
	}, extra...)...)
}

// start starts a long-running process and remembers it for dump.
func (c *cluster) start(name, path string, env []string, args ...string) *proc {
	c.t.Helper()
	p := startProc(c.t, name, env, path, args...)
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
		b.WriteString(p.dump())
		b.WriteString("\n")
	}
	return b.String()
}

// result is the outcome of a command run to completion.
type result struct {
	args           []string
	code           int
	stdout, stderr string
	elapsed        time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("$ %s\nexit code %d after %s\n--- stdout\n%s\n--- stderr\n%s",
		strings.Join(r.args, " "), r.code, r.elapsed.Round(time.Millisecond), tail(r.stdout, 16<<10), tail(r.stderr, 16<<10))
}

// runCmd runs path to completion (at most cmdTimeout) with env.
func runCmd(t testing.TB, env []string, path string, args ...string) result {
	t.Helper()
	start := time.Now()
	p := startProc(t, filepath.Base(path), env, path, args...)
	code := p.waitExit(t, cmdTimeout)
	return result{
		args: append([]string{filepath.Base(path)}, args...), code: code,
		stdout: p.stdout.String(), stderr: p.stderr.String(), elapsed: time.Since(start),
	}
}

// dispatcher runs a dispatcher command with the cluster's environment.
func (c *cluster) dispatcher(args ...string) result {
	c.t.Helper()
	return runCmd(c.t, c.env(), bin.dispatcher, args...)
}

// mustDispatcher runs a dispatcher command that must exit 0 and returns its
// stdout.
func (c *cluster) mustDispatcher(args ...string) string {
	c.t.Helper()
	r := c.dispatcher(args...)
	require.Equal(c.t, 0, r.code, "%s\n%s", r, c.dump())
	return r.stdout
}

// dev is a running `dispatcher dev`.
type dev struct {
	*proc
	url string // nats://HOST:PORT
}

// startDev starts `dispatcher dev` on listen (reaping every 100 ms with a
// 200 ms grace, JetStream files in the test's directory, unless args say
// otherwise) and waits for its ready line.
func (c *cluster) startDev(listen string, args ...string) *dev {
	c.t.Helper()
	all := append([]string{"dev", "--nats-listen", listen, "--reap-interval", "100ms", "--reap-grace", "200ms",
		"--nats-store-dir", c.t.TempDir()}, args...)
	p := c.start("dev@"+listen, bin.dispatcher, c.env(), all...)
	p.waitOutput(c.t, startTimeout, "stdout", "nats listening on ")
	line, _, _ := strings.Cut(p.stdout.String()[strings.Index(p.stdout.String(), "nats listening on "):], "\n")
	url := strings.TrimSpace(strings.TrimPrefix(line, "nats listening on "))
	require.Equal(c.t, "nats://"+listen, url, "dev's ready line\n%s", p.dump())
	return &dev{proc: p, url: url}
}

// worker is a running worker with a metrics server.
type worker struct {
	*proc
	owner   string
	metrics string // HOST:PORT
}

// startWorker starts a worker named owner and waits until it runs. Its
// defaults (short lease, fast polling and reaping) come first in its
// arguments, so args override them.
func (c *cluster) startWorker(owner string, args ...string) *worker {
	c.t.Helper()
	addr := freeAddr(c.t)
	all := append([]string{
		"--owner", owner, "--metrics-addr", addr, "--kinds", "sleep,noop",
		"--lease", "2s", "--poll-interval", "100ms", "--reap-interval", "100ms", "--reap-grace", "200ms", "--drain-timeout", "2s",
	}, args...)
	p := c.start("worker "+owner, bin.worker, c.env(), all...)
	p.waitOutput(c.t, startTimeout, "stderr", `"msg":"worker started"`)
	return &worker{proc: p, owner: owner, metrics: addr}
}

// requireBusy checks, through /metrics, that the worker is running n tasks
// and has committed none: the premise of a test about to signal it, checked
// just before the signal (a query run a moment earlier may be stale).
func (w *worker) requireBusy(t testing.TB, n int) {
	t.Helper()
	text := w.scrape(t)
	inFlight, _ := metricSum(text, "taskfleet_tasks_in_flight")
	committed, _ := metricSum(text, "taskfleet_tasks_committed_total")
	require.True(t, inFlight == float64(n) && committed == 0,
		"%s should be running %d tasks and have committed none; in flight %v, committed %v (the machine is too slow for this test's timing?)\n%s",
		w.name, n, inFlight, committed, w.dump())
}

var scrapeClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// scrape returns the worker's /metrics text.
func (w *worker) scrape(t testing.TB) string {
	t.Helper()
	resp, err := scrapeClient.Get("http://" + w.metrics + "/metrics")
	require.NoError(t, err, "scrape %s\n%s", w.name, w.dump())
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "scrape %s: %s", w.name, body)
	return string(body)
}

// metric scrapes the worker and sums the series of family name whose labels
// include every label (`key="value"`).
func (w *worker) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	v, ok := metricSum(w.scrape(t), name, labels...)
	require.True(t, ok, "%s has no metric %s%v", w.name, name, labels)
	return v
}

// metricSum sums the samples of name in Prometheus text format whose labels
// include every one of labels; ok is false when there is none.
func metricSum(text, name string, labels ...string) (sum float64, ok bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		series, value, found := strings.Cut(line, " ")
		if !found {
			continue
		}
		metric, lbls, _ := strings.Cut(series, "{")
		if metric != name {
			continue
		}
		match := true
		for _, l := range labels {
			if !strings.Contains(lbls, l) {
				match = false
			}
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			continue
		}
		sum += v
		ok = true
	}
	return sum, ok
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

// waitAll runs `dispatcher wait` with timeout and extra flags; it must exit 0.
func (c *cluster) waitAll(timeout time.Duration, extra ...string) result {
	c.t.Helper()
	r := c.dispatcher(append([]string{"wait", "--quiet", "--timeout", timeout.String()}, extra...)...)
	require.Equal(c.t, 0, r.code, "wait\n%s\n%s", r, c.dump())
	return r
}

// describe renders tasks for a failure message.
func describe(ts []task) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "%s %s attempts=%d owner=%q last_error=%q res=%s\n", t.ID, t.Status, t.Attempts, t.Owner, t.LastError, t.Res)
	}
	return b.String()
}
