package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// Multiproc burns down N no-op tasks with one worker process of
// concurrency C, then another N with Procs worker processes of C/Procs
// each, on one SQLite file without events, and compares the two. A third
// run burns down N tasks with the same processes, each on a file of its
// own with N/Procs tasks: nothing shared but the machine, so it shows what
// the processes alone cost against one.
const Multiproc Scenario = "multiproc"

// DefaultProcs is the default of Config.Procs.
const DefaultProcs = 4

// MultiprocRun is one burn-down of the multiproc scenario.
type MultiprocRun struct {
	Procs            int     `json:"procs"`
	Concurrency      int     `json:"concurrency_each"`
	Seconds          float64 `json:"seconds"`
	TasksPerSec      float64 `json:"tasks_per_sec"`
	CPUPerTaskMicros float64 `json:"cpu_per_task_us"` // every worker process's
	StealPct         float64 `json:"steal_pct"`
	PeakRSSMiB       float64 `json:"peak_rss_mib"` // the largest worker process (Linux)
	// CPUs is the --cpus each process was given; 0: none (Go's default).
	CPUs int `json:"cpus_flag"`
	// GOMAXPROCS is what each process reported in its start line; 0 if
	// one did not, or they differ.
	GOMAXPROCS int `json:"gomaxprocs_each"`
}

// MultiprocResult is the figure of the multiproc scenario.
type MultiprocResult struct {
	Tasks int          `json:"tasks"`
	One   MultiprocRun `json:"one"`
	Many  MultiprocRun `json:"many"`
	// Apart is Many's processes, each on a file of its own.
	Apart MultiprocRun `json:"apart"`
	// Ratio is Many's tasks/s over One's; ApartRatio, Apart's.
	Ratio      float64 `json:"ratio"`
	ApartRatio float64 `json:"apart_ratio"`
	Target     float64 `json:"target_ratio"`
}

// multiproc runs the multiproc scenario.
func (b *bench) multiproc(ctx context.Context) (*MultiprocResult, error) {
	bin, err := b.workerBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "taskfleet-multiproc-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	n, conc, procs := b.cfg.N, b.cfg.Concurrency, b.cfg.Procs
	r := &MultiprocResult{Tasks: n, Target: 0.9}
	// The first two runs share one file (each its own pool, both filled
	// first, so both start from the same file); the third has a file per
	// process.
	shared, err := b.newMultiprocFile(ctx, filepath.Join(dir, "tasks.db"), map[string]int{"one": n, "many": n})
	if err != nil {
		return nil, err
	}
	defer shared.close()
	var apart []*multiprocFile
	defer func() {
		for _, f := range apart {
			f.close()
		}
	}()
	for i := range procs {
		share := n/procs + min(1, max(0, n%procs-i)) // n in all
		f, err := b.newMultiprocFile(ctx, filepath.Join(dir, fmt.Sprintf("apart-%d.db", i)), map[string]int{"apart": share})
		if err != nil {
			return nil, err
		}
		apart = append(apart, f)
	}
	runs := []struct {
		run   *MultiprocRun
		procs int
		files []*multiprocFile
		pool  string
	}{
		{&r.One, 1, []*multiprocFile{shared}, "one"},
		{&r.Many, procs, []*multiprocFile{shared}, "many"},
		{&r.Apart, procs, apart, "apart"},
	}
	for _, rn := range runs {
		rn.run.Procs, rn.run.Concurrency = rn.procs, conc/rn.procs
		if rn.procs > 1 {
			rn.run.CPUs = b.procCPUs()
		}
		if err := b.burnProcs(ctx, bin, rn.files, rn.pool, n, rn.run); err != nil {
			return nil, err
		}
		fmt.Fprintf(b.out, "multiproc: %d process(es) × concurrency %d, GOMAXPROCS %d each, on %d file(s): %s, %.0f µs CPU per task\n",
			rn.run.Procs, rn.run.Concurrency, rn.run.GOMAXPROCS, len(rn.files), rate(rn.run.TasksPerSec), rn.run.CPUPerTaskMicros)
	}
	r.Ratio = r.Many.TasksPerSec / r.One.TasksPerSec
	r.ApartRatio = r.Apart.TasksPerSec / r.One.TasksPerSec
	return r, nil
}

// multiprocFile is a SQLite file of the multiproc scenario, with a Manager
// per pool.
type multiprocFile struct {
	path  string
	store taskstate.Store
	pools map[string]*taskstate.Manager
}

func (f *multiprocFile) close() { f.store.Close() }

// newMultiprocFile creates a file at path holding the given number of no-op
// tasks in each pool.
func (b *bench) newMultiprocFile(ctx context.Context, path string, tasks map[string]int) (*multiprocFile, error) {
	s, err := openSQLite(ctx, path)
	if err != nil {
		return nil, err
	}
	f := &multiprocFile{path: path, store: s, pools: map[string]*taskstate.Manager{}}
	for _, p := range slices.Sorted(maps.Keys(tasks)) {
		m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: p})
		if err != nil {
			s.Close()
			return nil, err
		}
		f.pools[p] = m
		fmt.Fprintf(b.out, "multiproc: creating %s no-op tasks in pool %s of %s\n", count(tasks[p]), p, filepath.Base(path))
		// Plain maps: the worker processes decode the defs without the
		// benchmark's types.
		noop := func(i int) (string, map[string]any) { return "noop", map[string]any{"run": b.run, "seq": i} }
		if _, err := b.fillMaps(ctx, m, tasks[p], noop, nil); err != nil {
			s.Close()
			return nil, err
		}
	}
	return f, nil
}

// multiprocStall is how long burnProcs waits for the next task to finish.
const multiprocStall = time.Minute

// stallWatch reports a count that stopped moving: a run that stops is
// reported, not waited on for ever (a store that read a stale file once
// did: sqlitestore/heldfile.go).
type stallWatch struct {
	limit time.Duration
	last  int
	moved time.Time
}

// check takes the count at now; an error once it has not moved for
// longer than the limit.
func (w *stallWatch) check(n int, now time.Time) error {
	if n != w.last || w.moved.IsZero() {
		w.last, w.moved = n, now
		return nil
	}
	if stalled := now.Sub(w.moved); stalled > w.limit {
		return fmt.Errorf("no task finished for %s", stalled.Truncate(time.Second))
	}
	return nil
}

// burnProcs starts run.Procs worker processes on pool, spread over files
// in turn, and times them until the pool's n tasks (in all files) are
// done.
func (b *bench) burnProcs(ctx context.Context, bin string, files []*multiprocFile, pool string, n int, run *MultiprocRun) error {
	var before syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &before)
	cpu0 := sampleCPU()
	start := time.Now()
	var cmds []*exec.Cmd
	logs := make([]*workerLog, run.Procs)
	defer func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}()
	for i := range run.Procs {
		args := []string{"--store", "sqlite://" + files[i%len(files)].path, "--pool", pool,
			"--concurrency", strconv.Itoa(run.Concurrency), "--reap-interval", "0", "--owner", "bench-" + strconv.Itoa(i)}
		if run.CPUs > 0 {
			args = append(args, "--cpus", strconv.Itoa(run.CPUs))
		}
		c := exec.CommandContext(ctx, bin, args...)
		// The run decides the processes' CPUs: GOMAXPROCS would win.
		c.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GOMAXPROCS=") }),
			"TASKFLEET_LOG_LEVEL=info", "TASKFLEET_LOG_FORMAT=json", "TASKFLEET_NATS=")
		logs[i] = &workerLog{out: os.Stderr}
		c.Stderr = logs[i]
		if err := c.Start(); err != nil {
			return fmt.Errorf("start %s: %w", bin, err)
		}
		cmds = append(cmds, c)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	stall := stallWatch{limit: multiprocStall}
	for {
		var done, failed int
		for _, f := range files {
			c, err := f.pools[pool].Stat(ctx, taskstate.Query{})
			if err != nil {
				return err
			}
			done, failed = done+c[taskstate.StatusDone], failed+c[taskstate.StatusFailed]
		}
		if done+failed >= n {
			if failed > 0 {
				return fmt.Errorf("%d of %d tasks failed in the worker processes", failed, n)
			}
			break
		}
		if err := stall.check(done+failed, time.Now()); err != nil {
			return fmt.Errorf("multiproc: %w (%d of %d done, %d failed)", err, done, n, failed)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	elapsed := time.Since(start)
	use := cpuBetween(cpu0, sampleCPU(), 0)
	for _, c := range cmds {
		run.PeakRSSMiB = max(run.PeakRSSMiB, vmHWM(c.Process.Pid))
	}
	var errs []error
	for _, c := range cmds {
		errs = append(errs, c.Process.Signal(syscall.SIGTERM))
	}
	for _, c := range cmds {
		errs = append(errs, c.Wait())
	}
	cmds = nil
	run.GOMAXPROCS = logs[0].gomaxprocs
	for _, l := range logs[1:] {
		if l.gomaxprocs != run.GOMAXPROCS {
			run.GOMAXPROCS = 0
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("worker processes: %w", err)
	}
	var after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	run.Seconds, run.TasksPerSec = elapsed.Seconds(), float64(n)/elapsed.Seconds()
	run.CPUPerTaskMicros = float64(cpu.Microseconds()) / float64(n)
	run.StealPct = use.StealPct
	return nil
}

// procCPUs is the --cpus of each of several worker processes: Config.ProcCPUs,
// by default the machine's share of each (0 when negative: Go's default).
func (b *bench) procCPUs() int {
	switch {
	case b.cfg.ProcCPUs < 0:
		return 0
	case b.cfg.ProcCPUs > 0:
		return b.cfg.ProcCPUs
	}
	return max(1, runtime.NumCPU()/b.cfg.Procs)
}

// workerLog is a worker process's stderr, its log in JSON: it keeps the
// GOMAXPROCS of the start line and passes on every line above info (and
// any that is not JSON). exec.Cmd's copying goroutine writes it; Wait
// returns after the last write.
type workerLog struct {
	out        io.Writer
	buf        []byte
	gomaxprocs int
}

// maxWorkerLogLine bounds the part of a line kept while it is written.
const maxWorkerLogLine = 64 << 10

func (l *workerLog) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.line(l.buf[:i+1])
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > maxWorkerLogLine {
		l.line(append(l.buf, '\n'))
		l.buf = l.buf[:0]
	}
	return len(p), nil
}

func (l *workerLog) line(b []byte) {
	var e struct {
		Level      string `json:"level"`
		Msg        string `json:"msg"`
		GOMAXPROCS int    `json:"gomaxprocs"`
	}
	if json.Unmarshal(b, &e) == nil {
		if e.Msg == "worker started" {
			l.gomaxprocs = e.GOMAXPROCS
		}
		if e.Level == "info" || e.Level == "debug" {
			return
		}
	}
	_, _ = l.out.Write(b)
}

// workerBin is Config.WorkerBin, or the worker next to this executable,
// or the one on PATH.
func (b *bench) workerBin() (string, error) {
	if b.cfg.WorkerBin != "" {
		return b.cfg.WorkerBin, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "worker")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("worker")
	if err != nil {
		return "", errors.New("multiproc: no worker binary next to this one or on PATH; give --worker-bin")
	}
	return p, nil
}

// Met reports whether the target is met.
func (m *MultiprocResult) Met() bool { return m.Ratio >= m.Target }

// writeMultiprocRows adds the multiproc scenario's rows to WriteTable's table.
func writeMultiprocRows(row func(...string), verdict func(bool) string, r Results) {
	if m := r.Multiproc; m != nil {
		for i, run := range []MultiprocRun{m.One, m.Many, m.Apart} {
			files := []string{"one file", "one file", "a file each"}[i]
			row("multiproc", fmt.Sprintf("%d process(es) × concurrency %d, GOMAXPROCS %d each, %s tasks, %s", run.Procs, run.Concurrency, run.GOMAXPROCS, count(m.Tasks), files), rate(run.TasksPerSec), "", "")
			row("", "CPU per task / steal / peak RSS", fmt.Sprintf("%.0f µs / %.0f %% / %.0f MiB", run.CPUPerTaskMicros, run.StealPct, run.PeakRSSMiB), "", "")
		}
		row("", "many / one", fmt.Sprintf("%.2f×", m.Ratio), fmt.Sprintf("≥ %.2f×", m.Target), verdict(m.Met()))
		row("", "many on a file each / one", fmt.Sprintf("%.2f×", m.ApartRatio), "", "")
	}
}
