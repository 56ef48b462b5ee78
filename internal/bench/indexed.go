package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// The scenarios of this file.
const (
	// Filtered fills a pool of CreateN tasks of two kinds whose defs carry
	// a model.class (one of 1,000), declares an index on that path, and
	// times three counts: an _id $in of 1,000 ids spread over the pool,
	// one model.class, and one status and kind.
	Filtered Scenario = "filtered"
	// Multiproc burns down N no-op tasks with one worker process of
	// concurrency C, then another N with Procs worker processes of C/Procs
	// each, on one SQLite file without events, and compares the two. A
	// third run burns down N tasks with the same processes, each on a file
	// of its own with N/Procs tasks: nothing shared but the machine, so it
	// shows what the processes alone cost against one.
	Multiproc Scenario = "multiproc"
)

// Defaults of the fields of Config for these scenarios.
const (
	DefaultProcs     = 4
	filteredClasses  = 1000
	filteredIDs      = 1000
	filteredIDStride = 997 // a prime: the sampled ids are spread over the pool
)

// Design targets of the filtered scenario (issue 16).
const (
	TargetIDList = Millis(20 * time.Millisecond)
	TargetPath   = Millis(100 * time.Millisecond)
)

// FilteredResult is the figure of the filtered scenario: the median of
// StatRuns counts of each query.
type FilteredResult struct {
	Tasks int `json:"tasks"`
	Runs  int `json:"runs"`
	IDs   int `json:"ids"`
	// IDList counts {"_id": {"$in": [1,000 ids]}}.
	IDList Millis `json:"id_list_ms"`
	// Path counts {"filter.model.class": "M7"} (Tasks/1,000 matches)
	// through the declared index.
	Path Millis `json:"path_ms"`
	// StatusKind counts {"status": "waiting", "kind": "train"} (half the
	// pool).
	StatusKind Millis `json:"status_kind_ms"`
	// CreatePerSec is the rate the pool was filled at.
	CreatePerSec     float64 `json:"create_tasks_per_sec"`
	CPUPerTaskMicros float64 `json:"create_cpu_per_task_us"`
	StealPct         float64 `json:"steal_pct"`
	PeakRSSMiB       float64 `json:"peak_rss_mib"`
	TargetIDList     Millis  `json:"target_id_list_ms"`
	TargetPath       Millis  `json:"target_path_ms"`
}

// MultiprocRun is one burn-down of the multiproc scenario.
type MultiprocRun struct {
	Procs            int     `json:"procs"`
	Concurrency      int     `json:"concurrency_each"`
	Seconds          float64 `json:"seconds"`
	TasksPerSec      float64 `json:"tasks_per_sec"`
	CPUPerTaskMicros float64 `json:"cpu_per_task_us"` // every worker process's
	StealPct         float64 `json:"steal_pct"`
	PeakRSSMiB       float64 `json:"peak_rss_mib"` // the largest worker process (Linux)
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

// filtered runs the filtered scenario.
func (b *bench) filtered(ctx context.Context) (*FilteredResult, error) {
	pool := b.pool(Filtered)
	m, err := b.manager(pool, nil)
	if err != nil {
		return nil, err
	}
	n := b.cfg.CreateN
	fmt.Fprintf(b.out, "filtered: creating %s tasks with a model.class\n", count(n))
	var ids []string
	cpu0 := sampleCPU()
	spent, err := b.fillMaps(ctx, m, n, func(i int) (string, map[string]any) {
		kind := "noop"
		if i%2 == 1 {
			kind = "train"
		}
		return kind, map[string]any{"run": b.run, "seq": i, "model": map[string]any{"class": "M" + strconv.Itoa(i%filteredClasses)}}
	}, func(i int, id string) {
		if i%filteredIDStride == 0 && len(ids) < filteredIDs {
			ids = append(ids, id)
		}
	})
	if err != nil {
		return nil, err
	}
	use := cpuBetween(cpu0, sampleCPU(), n)
	if err := m.CreateIndex(ctx, "model.class"); err != nil {
		return nil, err
	}
	r := &FilteredResult{Tasks: n, Runs: b.cfg.StatRuns, IDs: len(ids), CreatePerSec: float64(n) / spent.Seconds(),
		CPUPerTaskMicros: use.PerTask, StealPct: use.StealPct, TargetIDList: TargetIDList, TargetPath: TargetPath}
	for _, q := range []struct {
		name string
		q    taskstate.Query
		want int
		out  *Millis
	}{
		{"_id $in", taskstate.ByIDs(ids...), len(ids), &r.IDList},
		{"model.class", taskstate.Query{}.Where("filter.model.class", taskstate.OpEq, "M7"), (n - 7 + filteredClasses - 1) / filteredClasses, &r.Path},
		{"status+kind", taskstate.Query{}.Where(taskstate.FieldStatus, taskstate.OpEq, "waiting").Where(taskstate.FieldKind, taskstate.OpEq, "train"), n / 2, &r.StatusKind},
	} {
		times := make([]time.Duration, b.cfg.StatRuns)
		for i := range times {
			t0 := time.Now()
			c, err := m.Stat(ctx, q.q)
			times[i] = time.Since(t0)
			if err != nil {
				return nil, err
			}
			if c.Total() != q.want {
				return nil, fmt.Errorf("%s counted %d tasks, want %d", q.name, c.Total(), q.want)
			}
		}
		*q.out = summarize(times).P50
		fmt.Fprintf(b.out, "filtered: %s: median %s over %s tasks (%d matches)\n", q.name, *q.out, count(n), q.want)
	}
	r.PeakRSSMiB = peakRSSMiB(syscall.RUSAGE_SELF)
	return r, nil
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
		if err := b.burnProcs(ctx, bin, rn.files, rn.pool, n, rn.run); err != nil {
			return nil, err
		}
		fmt.Fprintf(b.out, "multiproc: %d process(es) × concurrency %d on %d file(s): %s, %.0f µs CPU per task\n",
			rn.run.Procs, rn.run.Concurrency, len(rn.files), rate(rn.run.TasksPerSec), rn.run.CPUPerTaskMicros)
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

// burnProcs starts run.Procs worker processes on pool, spread over files
// in turn, and times them until the pool's n tasks (in all files) are
// done.
func (b *bench) burnProcs(ctx context.Context, bin string, files []*multiprocFile, pool string, n int, run *MultiprocRun) error {
	var before syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &before)
	cpu0 := sampleCPU()
	start := time.Now()
	var cmds []*exec.Cmd
	defer func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}()
	for i := range run.Procs {
		c := exec.CommandContext(ctx, bin, "--store", "sqlite://"+files[i%len(files)].path, "--pool", pool,
			"--concurrency", strconv.Itoa(run.Concurrency), "--reap-interval", "0", "--owner", "bench-"+strconv.Itoa(i))
		c.Env = append(os.Environ(), "TASKFLEET_LOG_LEVEL=error", "TASKFLEET_NATS=")
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			return fmt.Errorf("start %s: %w", bin, err)
		}
		cmds = append(cmds, c)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
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

// peakRSSMiB is getrusage's maximum resident set size, in MiB (Linux
// reports KiB).
func peakRSSMiB(who int) float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(who, &ru) != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024
}

// Met reports whether the targets are met.
func (f *FilteredResult) Met() bool { return f.IDList <= f.TargetIDList && f.Path <= f.TargetPath }

// Met reports whether the target is met.
func (m *MultiprocResult) Met() bool { return m.Ratio >= m.Target }

// writeIndexedRows adds the rows of these scenarios to WriteTable's table.
func writeIndexedRows(row func(...string), verdict func(bool) string, r Results) {
	if f := r.Filtered; f != nil {
		row("filtered", fmt.Sprintf("_id $in %d ids, median of %d over %s tasks", f.IDs, f.Runs, count(f.Tasks)), f.IDList.String(), "≤ "+f.TargetIDList.String(), verdict(f.IDList <= f.TargetIDList))
		row("", "model.class (indexed) count", f.Path.String(), "≤ "+f.TargetPath.String(), verdict(f.Path <= f.TargetPath))
		row("", "status+kind count", f.StatusKind.String(), "", "")
		row("", "fill rate / CPU per task / steal / peak RSS", fmt.Sprintf("%s / %.0f µs / %.0f %% / %.0f MiB", rate(f.CreatePerSec), f.CPUPerTaskMicros, f.StealPct, f.PeakRSSMiB), "", "")
	}
	if m := r.Multiproc; m != nil {
		for i, run := range []MultiprocRun{m.One, m.Many, m.Apart} {
			files := []string{"one file", "one file", "a file each"}[i]
			row("multiproc", fmt.Sprintf("%d process(es) × concurrency %d, %s tasks, %s", run.Procs, run.Concurrency, count(m.Tasks), files), rate(run.TasksPerSec), "", "")
			row("", "CPU per task / steal / peak RSS", fmt.Sprintf("%.0f µs / %.0f %% / %.0f MiB", run.CPUPerTaskMicros, run.StealPct, run.PeakRSSMiB), "", "")
		}
		row("", "many / one", fmt.Sprintf("%.2f×", m.Ratio), fmt.Sprintf("≥ %.2f×", m.Target), verdict(m.Met()))
		row("", "many on a file each / one", fmt.Sprintf("%.2f×", m.ApartRatio), "", "")
	}
}

// openSQLite opens a store on path.
func openSQLite(ctx context.Context, path string) (taskstate.Store, error) {
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: path})
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return s, nil
}

// fillMaps creates n tasks through m in batches of cfg.Batch, task i of
// the kind and def spec returns; created, when set, gets each id. It
// returns the time spent in Create.
func (b *bench) fillMaps(ctx context.Context, m *taskstate.Manager, n int, spec func(i int) (string, map[string]any), created func(i int, id string)) (time.Duration, error) {
	specs := make([]taskstate.TaskSpec, 0, min(b.cfg.Batch, n))
	var spent time.Duration
	for off := 0; off < n; off += b.cfg.Batch {
		specs = specs[:0]
		for i := off; i < min(off+b.cfg.Batch, n); i++ {
			kind, def := spec(i)
			specs = append(specs, taskstate.TaskSpec{Kind: kind, Def: def})
		}
		t0 := time.Now()
		res, err := m.Create(ctx, specs, taskstate.CreateOptions{})
		spent += time.Since(t0)
		if err != nil {
			return spent, err
		}
		for i, id := range res.IDs {
			if created != nil {
				created(off+i, id)
			}
		}
	}
	return spent, nil
}

// vmHWM is the peak resident set size of a running process, in MiB, from
// /proc/PID/status (0 where unknown).
func vmHWM(pid int) float64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}
