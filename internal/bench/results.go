package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Targets from the design's performance targets (2 cores, embedded
// backend).
const (
	TargetBurndown  = 20_000.0 // tasks/s, at least
	TargetPickupP50 = Millis(time.Millisecond)
	TargetPickupP99 = Millis(10 * time.Millisecond)
	TargetWait      = Millis(5 * time.Millisecond)
	TargetCreate    = 60_000.0 // tasks/s, at least (raised from 50,000 by performance round 3)
	TargetStat      = Millis(50 * time.Millisecond)
	// TargetCreateEndDrop bounds how far the create's last tenth of the
	// tasks may run below its first tenth (a 1M create: the pool's growth).
	TargetCreateEndDrop = 0.30
)

// Results holds the figures of every scenario that ran, and the
// configuration they ran with. Its JSON form is what `dispatcher bench -o
// json` prints.
type Results struct {
	Config   ConfigReport `json:"config"`
	Burndown *Throughput  `json:"burndown,omitempty"`
	Pickup   *Latency     `json:"pickup,omitempty"`
	Wait     *Latency     `json:"wait,omitempty"`
	Create   *Throughput  `json:"create,omitempty"`
	Stat     *StatResult  `json:"stat,omitempty"`
	// CreateCLI is the create-cli scenario's figure.
	CreateCLI *CLIThroughput   `json:"create_cli,omitempty"`
	Polling   *Polling         `json:"polling,omitempty"`
	Fanout    *FanoutResult    `json:"fanout,omitempty"`
	Filtered  *FilteredResult  `json:"filtered,omitempty"`
	Multiproc *MultiprocResult `json:"multiproc,omitempty"`
}

// ConfigReport is the configuration next to every figure.
type ConfigReport struct {
	Scenarios     []string `json:"scenarios"`
	Workers       int      `json:"workers"`
	Concurrency   int      `json:"concurrency"`
	Events        bool     `json:"events"`
	EventBus      string   `json:"event_bus"`
	PollInterval  Millis   `json:"poll_interval_ms"`
	Debounce      Millis   `json:"debounce_ms"`
	Idle          Millis   `json:"idle_ms"`
	N             int      `json:"n"`
	CreateN       int      `json:"create_n"`
	Batch         int      `json:"batch"`
	PickupSamples int      `json:"pickup_samples"`
	WaitSamples   int      `json:"wait_samples"`
	StatRuns      int      `json:"stat_runs"`
	Store         string   `json:"store"`
	GOMAXPROCS    int      `json:"gomaxprocs"`
	NumCPU        int      `json:"num_cpu"`
	GCPercent     int      `json:"gc_percent,omitempty"`
	GoVersion     string   `json:"go_version"`
	GOOS          string   `json:"goos"`
	GOARCH        string   `json:"goarch"`
}

// Throughput is the figure of the burn-down and create scenarios.
type Throughput struct {
	// Tasks is the number of tasks the scenario created (burndown: and
	// ran).
	Tasks int `json:"tasks"`
	// Done and Failed count the pool's tasks by status afterwards
	// (burndown only).
	Done   int `json:"done,omitempty"`
	Failed int `json:"failed,omitempty"`
	// Seconds is the measured time: burndown from the start of the fleet
	// to the last commit, create from the first Create call to the return
	// of the last.
	Seconds     float64 `json:"seconds"`
	TasksPerSec float64 `json:"tasks_per_sec"`
	// TargetPerSec is the design target.
	TargetPerSec float64 `json:"target_tasks_per_sec"`
	// ClaimRoundTrips and CommitRoundTrips count the store round trips of
	// the fleet (burndown only): tasks / round trips is the batch size.
	ClaimRoundTrips  int `json:"claim_round_trips,omitempty"`
	CommitRoundTrips int `json:"commit_round_trips,omitempty"`
	// CPUPerTaskMicros is the benchmark process's CPU time (user +
	// system, every goroutine) per task over the measured time.
	CPUPerTaskMicros float64 `json:"cpu_per_task_us"`
	// StealPct is the share of the machine's CPU time a hypervisor took
	// away during the measured time (Linux /proc/stat), in percent; -1
	// when unknown. Wall-clock figures taken with a high steal understate
	// what the code does.
	StealPct float64 `json:"steal_pct"`
	// Batch is the number of tasks per Create call (create only).
	Batch int `json:"batch,omitempty"`
	// FirstTenthPerSec and LastTenthPerSec are the rates of the Create
	// calls that made the first and the last tenth of the tasks (create
	// only; whole calls, so at least a tenth each).
	FirstTenthPerSec float64 `json:"first_tenth_tasks_per_sec,omitempty"`
	LastTenthPerSec  float64 `json:"last_tenth_tasks_per_sec,omitempty"`
}

// Met reports whether the target is met.
func (t *Throughput) Met() bool { return t.TasksPerSec >= t.TargetPerSec }

// EndMet reports whether the last tenth ran within TargetCreateEndDrop of
// the first (true when they were not measured).
func (t *Throughput) EndMet() bool {
	return t.FirstTenthPerSec <= 0 || t.LastTenthPerSec >= (1-TargetCreateEndDrop)*t.FirstTenthPerSec
}

// Latency is the figure of the pickup and wait scenarios: percentiles
// (nearest rank) over the samples.
type Latency struct {
	Samples int    `json:"samples"`
	Events  bool   `json:"events"`
	Min     Millis `json:"min_ms"`
	P50     Millis `json:"p50_ms"`
	P90     Millis `json:"p90_ms"`
	P99     Millis `json:"p99_ms"`
	Max     Millis `json:"max_ms"`
	Mean    Millis `json:"mean_ms"`
	// CreateP50 is the median time Manager.Create took to return, which
	// every pickup sample includes (pickup only).
	CreateP50 Millis `json:"create_p50_ms,omitempty"`
	// StealPct is the share of the machine's CPU time a hypervisor took
	// away while the samples were taken, in percent; -1 when unknown. A
	// descheduled virtual CPU shows up in the tail.
	StealPct float64 `json:"steal_pct"`
	// TargetP50 and TargetP99 are the design targets (zero: none). They
	// apply with events; without, the poll interval bounds the latency.
	TargetP50 Millis `json:"target_p50_ms,omitempty"`
	TargetP99 Millis `json:"target_p99_ms,omitempty"`
}

// Met reports whether the targets are met.
func (l *Latency) Met() bool {
	return (l.TargetP50 == 0 || l.P50 <= l.TargetP50) && (l.TargetP99 == 0 || l.P99 <= l.TargetP99)
}

// StatResult is the figure of the stat scenario.
type StatResult struct {
	Tasks  int    `json:"tasks"`
	Runs   int    `json:"runs"`
	Median Millis `json:"median_ms"`
	Min    Millis `json:"min_ms"`
	Max    Millis `json:"max_ms"`
	Target Millis `json:"target_ms"`
}

// Met reports whether the target is met.
func (s *StatResult) Met() bool { return s.Median <= s.Target }

// Millis is a duration that JSON shows as a number of milliseconds.
type Millis time.Duration

// MarshalJSON writes the milliseconds, to the microsecond.
func (d Millis) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, math.Round(float64(d)/1e3)/1e3, 'f', -1, 64), nil
}

// UnmarshalJSON reads a number of milliseconds.
func (d *Millis) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("bench: milliseconds: %w", err)
	}
	*d = Millis(f * 1e6)
	return nil
}

// String formats d with a unit and three significant digits: 412µs,
// 1.27ms, 2.01s.
func (d Millis) String() string {
	v := time.Duration(d)
	switch {
	case v < time.Microsecond:
		return v.String()
	case v < time.Millisecond:
		return strconv.FormatFloat(float64(v)/1e3, 'f', 0, 64) + "µs"
	case v < time.Second:
		return strconv.FormatFloat(float64(v)/1e6, 'g', 3, 64) + "ms"
	}
	return strconv.FormatFloat(float64(v)/1e9, 'g', 3, 64) + "s"
}

// summarize returns the percentiles of samples (which it sorts).
func summarize(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	var sum time.Duration
	for _, s := range samples {
		sum += s
	}
	rank := func(q float64) Millis {
		i := int(math.Ceil(q*float64(len(samples)))) - 1
		return Millis(samples[max(0, min(i, len(samples)-1))])
	}
	return Latency{
		Samples: len(samples), Min: Millis(samples[0]), P50: rank(0.50), P90: rank(0.90), P99: rank(0.99),
		Max: Millis(samples[len(samples)-1]), Mean: Millis(sum / time.Duration(len(samples))),
	}
}

// WriteTable writes the results as a table: one row per figure, with its
// target and whether it is met, under a line with the configuration.
func WriteTable(w io.Writer, r Results) error {
	c := r.Config
	gc := ""
	switch {
	case c.GCPercent > 0:
		gc = fmt.Sprintf("; GOGC %d", c.GCPercent)
	case c.GCPercent < 0:
		gc = "; GOGC off"
	}
	fmt.Fprintf(w, "configuration: %d worker(s) × concurrency %d; events: %s; poll interval %s; store: %s; GOMAXPROCS %d (%d CPUs)%s; %s\n\n",
		c.Workers, c.Concurrency, c.EventBus, c.PollInterval, c.Store, c.GOMAXPROCS, c.NumCPU, gc, c.GoVersion)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")) }
	row("SCENARIO", "FIGURE", "VALUE", "TARGET", "")
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT MET"
	}
	if t := r.Burndown; t != nil {
		row("burndown", fmt.Sprintf("%s no-op tasks, %s", count(t.Tasks), seconds(t.Seconds)), rate(t.TasksPerSec), "≥ "+rate(t.TargetPerSec), verdict(t.Met()))
		row("", "CPU per task / machine steal", cpuCell(t), "", "")
		if t.ClaimRoundTrips > 0 && t.CommitRoundTrips > 0 {
			row("", "tasks per claim / per commit", fmt.Sprintf("%.1f / %.1f", float64(t.Tasks)/float64(t.ClaimRoundTrips), float64(t.Tasks)/float64(t.CommitRoundTrips)), "", "")
		}
	}
	for _, l := range []struct {
		name string
		v    *Latency
	}{{"pickup", r.Pickup}, {"wait", r.Wait}} {
		if l.v == nil {
			continue
		}
		mode := "events"
		switch {
		case l.v.Events:
		case l.name == "wait":
			mode = "polling: Wait's 200ms fallback"
		default:
			mode = "polling every " + c.PollInterval.String()
		}
		if l.v.CreateP50 > 0 {
			mode += "; Create p50 " + l.v.CreateP50.String()
		}
		if l.v.StealPct >= 0 {
			mode += fmt.Sprintf("; steal %.0f %%", l.v.StealPct)
		}
		target, met := "-", ""
		if l.v.TargetP50 != 0 || l.v.TargetP99 != 0 {
			var parts []string
			if l.v.TargetP50 != 0 {
				parts = append(parts, "p50 ≤ "+l.v.TargetP50.String())
			}
			if l.v.TargetP99 != 0 {
				parts = append(parts, "p99 ≤ "+l.v.TargetP99.String())
			}
			target, met = strings.Join(parts, ", "), verdict(l.v.Met())
		}
		row(l.name, fmt.Sprintf("p50 / p90 / p99 / max (%d samples, %s)", l.v.Samples, mode),
			fmt.Sprintf("%s / %s / %s / %s", l.v.P50, l.v.P90, l.v.P99, l.v.Max), target, met)
	}
	if t := r.Create; t != nil {
		row("create", fmt.Sprintf("%s tasks in batches of %s, %s", count(t.Tasks), count(t.Batch), seconds(t.Seconds)), rate(t.TasksPerSec), "≥ "+rate(t.TargetPerSec), verdict(t.Met()))
		if t.FirstTenthPerSec > 0 {
			row("", "first / last tenth of the tasks", fmt.Sprintf("%s / %s (%+.0f %%)", count(int(t.FirstTenthPerSec)), rate(t.LastTenthPerSec), 100*(t.LastTenthPerSec/t.FirstTenthPerSec-1)),
				fmt.Sprintf("end within %.0f %%", 100*TargetCreateEndDrop), verdict(t.EndMet()))
		}
		row("", "CPU per task / machine steal", cpuCell(t), "", "")
	}
	if t := r.CreateCLI; t != nil {
		row("create-cli", fmt.Sprintf("%s tasks through dispatcher create -f (%.0f MB of JSON), %s", count(t.Tasks), float64(t.FileBytes)/(1<<20), seconds(t.Seconds)),
			rate(t.TasksPerSec), "≥ "+rate(t.TargetPerSec), verdict(t.Met()))
		steal := "unknown"
		if t.StealPct >= 0 {
			steal = fmt.Sprintf("%.0f %%", t.StealPct)
		}
		row("", "CPU per task / machine steal / peak RSS", fmt.Sprintf("%.0f µs / %s / %.0f MB", t.CPUPerTaskMicros, steal, float64(t.PeakRSSBytes)/(1<<20)),
			fmt.Sprintf("RSS ≤ %d MB", t.TargetRSS>>20), "")
	}
	if s := r.Stat; s != nil {
		row("stat", fmt.Sprintf("median of %d over %s tasks (min %s, max %s)", s.Runs, count(s.Tasks), s.Min, s.Max), s.Median.String(), "≤ "+s.Target.String(), verdict(s.Met()))
	}
	if p := r.Polling; p != nil {
		row("polling", fmt.Sprintf("pickup p50 / p99 (%d samples, no events, polling every %s)", p.Pickup.Samples, p.PollInterval),
			fmt.Sprintf("%s / %s", p.Pickup.P50, p.Pickup.P99), "p50 ≤ "+p.TargetP50.String(), verdict(p.Met()))
		row("", "CPU per task / machine steal / peak RSS", fmt.Sprintf("%.0f µs / %.0f %% / %.0f MiB", p.CPUPerTaskMicros, p.StealPct, float64(p.PeakRSSBytes)/(1<<20)), "", "")
		row("", fmt.Sprintf("idle fleet of %d runners, %.0f s: CPU / polls / scans / store writes", p.IdleWorkers, p.IdleSeconds),
			fmt.Sprintf("%.2f %% of a core / %.0f/s / %.1f/s / %.1f/s", p.IdleCPUPct, p.IdlePollsPerSec, p.IdleScansPerSec, p.IdleWritesPerSec), "", "")
		row("", fmt.Sprintf("the store's CPU for them (a poll %.0f µs, a scan %.0f µs)", p.PollCPUMicros, p.ScanCPUMicros),
			fmt.Sprintf("%.2f %% of a core", p.IdleStorePct), "< 1 %", verdict(p.IdleStorePct < 1))
	}
	writeIndexedRows(row, verdict, r)
	writeMultiprocRows(row, verdict, r)
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeFanout(w, r.Fanout)
}

// count formats n with thousands separators: 1,000,000.
func count(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func rate(r float64) string { return count(int(math.Round(r))) + " tasks/s" }

func seconds(s float64) string { return strconv.FormatFloat(s, 'f', 2, 64) + " s" }

// cpuCell shows a throughput's CPU per task and the steal during it.
func cpuCell(t *Throughput) string {
	steal := "unknown"
	if t.StealPct >= 0 {
		steal = fmt.Sprintf("%.0f %%", t.StealPct)
	}
	return fmt.Sprintf("%.0f µs / %s", t.CPUPerTaskMicros, steal)
}
