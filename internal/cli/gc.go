package cli

import (
	"runtime/debug"
	"strconv"
)

// DefaultGCPercent is the Go garbage collector target (GOGC) of the
// processes that run or create tasks in bulk: workers, dispatcher create
// and dispatcher bench. A worker's heap
// is small (the tasks in flight), so letting it grow to five times the live
// data before a collection costs little memory and saves CPU on every task;
// Go's default, 100, spends about a sixth of a no-op task's CPU in the
// collector (docs/BENCHMARKS.md).
const DefaultGCPercent = 400

// RegisterGCPercent adds --gc-percent (env TASKFLEET_GC_PERCENT) to fs.
func RegisterGCPercent(fs *FlagSet, v *int) {
	fs.IntVar(v, "gc-percent", "TASKFLEET_GC_PERCENT", DefaultGCPercent,
		"Go garbage collector target for this process, as GOGC (the GOGC environment variable, when set, wins)")
}

// ApplyGCPercent sets the collector's target to pct unless the GOGC
// environment variable is set, and returns the target in effect (-1: off).
// pct must be positive; where names the flag in the error.
func ApplyGCPercent(getenv func(string) string, pct int, where string) (int, error) {
	if pct < 1 {
		return 0, Usagef("%s: must be at least 1, got %d", where, pct)
	}
	if env := getenv("GOGC"); env != "" {
		if env == "off" {
			return -1, nil
		}
		if n, err := strconv.Atoi(env); err == nil {
			return n, nil
		}
		return 100, nil // the runtime ignores a GOGC it cannot parse
	}
	debug.SetGCPercent(pct)
	return pct, nil
}
