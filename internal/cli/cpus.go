package cli

import "runtime"

// MaxCPUs is the largest --cpus: above any machine a worker runs on, it
// bounds a typo (each of Go's Ps costs memory and a share of every GC).
const MaxCPUs = 1024

// RegisterCPUs adds --cpus (env TASKFLEET_CPUS) to fs.
func RegisterCPUs(fs *FlagSet, v *int) {
	fs.IntVar(v, "cpus", "TASKFLEET_CPUS", 0,
		"CPUs this process's Go scheduler runs on, as GOMAXPROCS (0: Go's default, every CPU or the container's CPU limit; the GOMAXPROCS environment variable, when set, wins). "+
			"Several worker processes on one machine: give each its share, the CPUs divided by the processes (docs/SCALE.md)")
}

// ApplyCPUs sets GOMAXPROCS to n unless n is 0 (Go's default) or the
// GOMAXPROCS environment variable is set, and reports whether the number
// in effect was chosen (by n or by the variable) rather than Go's default.
// n must be 0 to MaxCPUs; where names the flag in the error.
func ApplyCPUs(getenv func(string) string, n int, where string) (chosen bool, err error) {
	if n < 0 || n > MaxCPUs {
		return false, Usagef("%s: %d: want 0 (Go's default) to %d", where, n, MaxCPUs)
	}
	if getenv("GOMAXPROCS") != "" {
		return true, nil
	}
	if n == 0 {
		return false, nil
	}
	runtime.GOMAXPROCS(n)
	return true, nil
}
