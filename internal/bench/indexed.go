package bench

import (
	"context"
	"fmt"
	"os"
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
)

// The filtered scenario's pool and its _id list.
const (
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

// writeIndexedRows adds the rows of these scenarios to WriteTable's table.
func writeIndexedRows(row func(...string), verdict func(bool) string, r Results) {
	if f := r.Filtered; f != nil {
		row("filtered", fmt.Sprintf("_id $in %d ids, median of %d over %s tasks", f.IDs, f.Runs, count(f.Tasks)), f.IDList.String(), "≤ "+f.TargetIDList.String(), verdict(f.IDList <= f.TargetIDList))
		row("", "model.class (indexed) count", f.Path.String(), "≤ "+f.TargetPath.String(), verdict(f.Path <= f.TargetPath))
		row("", "status+kind count", f.StatusKind.String(), "", "")
		row("", "fill rate / CPU per task / steal / peak RSS", fmt.Sprintf("%s / %.0f µs / %.0f %% / %.0f MiB", rate(f.CreatePerSec), f.CPUPerTaskMicros, f.StealPct, f.PeakRSSMiB), "", "")
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
