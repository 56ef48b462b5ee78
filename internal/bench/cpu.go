package bench

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuSample is what the process and the machine had used at one moment:
// enough to tell, over a timed phase, how much CPU the work took and how
// much of the machine a hypervisor took away (steal). On a shared virtual
// machine the wall-clock figures move with the steal; CPU per task does
// much less.
type cpuSample struct {
	proc  time.Duration // user + system time of this process
	steal uint64        // machine-wide, in clock ticks (/proc/stat)
	total uint64        // machine-wide, in clock ticks
	ok    bool          // /proc/stat was readable
}

func sampleCPU() cpuSample {
	var s cpuSample
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.proc = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	s.steal, s.total, s.ok = readProcStat()
	return s
}

// readProcStat reads the machine's steal and total ticks from the "cpu"
// line of /proc/stat (Linux); ok is false elsewhere.
func readProcStat() (steal, total uint64, ok bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0, false
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, 0, false
	}
	// user nice system idle iowait irq softirq steal [guest guest_nice]:
	// guest time is already counted in user, so the first eight make the total.
	for i, f := range fields[1:9] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += v
		if i == 7 {
			steal = v
		}
	}
	return steal, total, true
}

// cpuUse is the CPU a phase used, from two samples.
type cpuUse struct {
	// PerTask is this process's CPU time per task, in microseconds.
	PerTask float64
	// StealPct is the share of the machine's CPU time the hypervisor
	// took during the phase, in percent; -1 when unknown.
	StealPct float64
}

func cpuBetween(a, b cpuSample, tasks int) cpuUse {
	u := cpuUse{StealPct: -1}
	if tasks > 0 {
		u.PerTask = float64((b.proc - a.proc).Microseconds()) / float64(tasks)
	}
	if a.ok && b.ok && b.total > a.total {
		u.StealPct = 100 * float64(b.steal-a.steal) / float64(b.total-a.total)
	}
	return u
}
