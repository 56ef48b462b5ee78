package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// Targets of the create-cli scenario (issue "performance round 3"): the
// CLI within 20 % of the in-process rate, in bounded memory.
const (
	TargetCreateCLI    = 60_000.0  // tasks/s, at least
	TargetCreateCLIRSS = 200 << 20 // bytes of peak RSS, at most
)

// CLIThroughput is the figure of the create-cli scenario: a task file
// through the real `dispatcher create` in a child process.
type CLIThroughput struct {
	Tasks int `json:"tasks"`
	// FileBytes is the size of the task file.
	FileBytes int64 `json:"file_bytes"`
	// Seconds is the child's lifetime: start, parse, store, exit.
	Seconds      float64 `json:"seconds"`
	TasksPerSec  float64 `json:"tasks_per_sec"`
	TargetPerSec float64 `json:"target_tasks_per_sec"`
	// CPUPerTaskMicros is the child's CPU time (user + system) per task.
	CPUPerTaskMicros float64 `json:"cpu_per_task_us"`
	// StealPct is the machine's steal while the child ran; -1 unknown.
	StealPct float64 `json:"steal_pct"`
	// PeakRSSBytes is the child's peak resident set (getrusage maxrss).
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	TargetRSS    int64 `json:"target_rss_bytes"`
	// Command is the child's command line (its store is in its
	// environment, never on the command line).
	Command string `json:"command"`
}

// Met reports whether both targets are met.
func (c *CLIThroughput) Met() bool {
	return c.TasksPerSec >= c.TargetPerSec && c.PeakRSSBytes <= c.TargetRSS
}

// createCLI writes a task file of CreateCLIN no-op tasks and times the
// real CLI creating it into the benchmark's store.
func (b *bench) createCLI(ctx context.Context) (*CLIThroughput, error) {
	uri := b.cfg.StoreURI
	if uri == "" && b.tempDir != "" {
		uri = "sqlite://" + filepath.Join(b.tempDir, "tasks.db")
	}
	switch {
	case b.cfg.Executable == "":
		return nil, errors.New("no dispatcher binary to run (Config.Executable)")
	case uri == "":
		return nil, errors.New("no store URI for the child process (Config.StoreURI)")
	}
	pool, n := b.pool(CreateCLI), b.cfg.CreateCLIN
	dir, err := os.MkdirTemp("", "taskfleet-bench-file-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "tasks.json")
	size, err := b.writeTaskFile(file, n)
	if err != nil {
		return nil, err
	}
	args := []string{"create", "-f", file, "--pool", pool, "--log-level", "warn"}
	fmt.Fprintf(b.out, "create-cli: %s tasks in %s (%.1f MB); running dispatcher %s\n", count(n), file, float64(size)/(1<<20), strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, b.cfg.Executable, args...)
	cmd.Env = append(childEnv(), "TASKFLEET_STORE="+uri)
	var ids lineCounter
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &ids, &stderr
	steal0, total0, ok0 := readProcStat()
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	steal1, total1, ok1 := readProcStat()
	if err != nil {
		return nil, fmt.Errorf("dispatcher create: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	if ids.n != n {
		return nil, fmt.Errorf("dispatcher create printed %d ids for %d tasks", ids.n, n)
	}
	res := &CLIThroughput{
		Tasks: n, FileBytes: size, Seconds: elapsed.Seconds(), TasksPerSec: float64(n) / elapsed.Seconds(),
		TargetPerSec: TargetCreateCLI, TargetRSS: TargetCreateCLIRSS, StealPct: -1, Command: "dispatcher " + strings.Join(args, " "),
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.CPUPerTaskMicros = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e3 / float64(n)
		res.PeakRSSBytes = int64(ru.Maxrss) * 1024 //nolint:unconvert // int32 on 32-bit platforms
	}
	if ok0 && ok1 && total1 > total0 {
		res.StealPct = 100 * float64(steal1-steal0) / float64(total1-total0)
	}
	m, err := b.manager(pool, nil)
	if err != nil {
		return nil, err
	}
	c, err := m.Stat(ctx, taskstate.Query{})
	if err != nil {
		return nil, err
	}
	if c[taskstate.StatusWaiting] != n {
		return nil, fmt.Errorf("the pool holds %d waiting tasks, want %d", c[taskstate.StatusWaiting], n)
	}
	fmt.Fprintf(b.out, "create-cli: %s tasks/s, %.0f µs CPU per task, peak RSS %.0f MB\n", count(int(res.TasksPerSec)), res.CPUPerTaskMicros, float64(res.PeakRSSBytes)/(1<<20))
	return res, nil
}

// writeTaskFile writes n no-op task entries as a JSON array, one a line.
func (b *bench) writeTaskFile(path string, n int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	_, _ = w.WriteString("[\n")
	for i := range n {
		def, _ := json.Marshal(Def{Run: b.run, Seq: i})
		_, _ = w.WriteString(`{"kind": "noop", "def": `)
		_, _ = w.Write(def)
		if i < n-1 {
			_, _ = w.WriteString("},\n")
		} else {
			_, _ = w.WriteString("}\n")
		}
	}
	_, _ = w.WriteString("]\n")
	err = errors.Join(w.Flush(), f.Sync())
	st, serr := f.Stat()
	err = errors.Join(err, serr, f.Close())
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// childEnv is this process's environment without TASKFLEET_ variables, so
// the child uses only the store it is given.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TASKFLEET_") {
			env = append(env, kv)
		}
	}
	return env
}

// lineCounter counts the lines written to it.
type lineCounter struct{ n int }

func (l *lineCounter) Write(p []byte) (int, error) {
	l.n += bytes.Count(p, []byte("\n"))
	return len(p), nil
}
