package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/taskfleet/taskfleet/internal/handlers"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// PollingScenario times pickup without events at the worker's default poll
// interval, and measures what an idle fleet costs the store.
const PollingScenario Scenario = "polling"

// Defaults of the polling scenario.
const (
	DefaultPollingSamples = 100 // at most; fewer when Config.PickupSamples is
	DefaultIdleWorkers    = 50
	DefaultIdleFor        = 10 * time.Second
	// TargetPollingP50 is issue 16's bound on pickup without events at
	// the worker's default poll interval.
	TargetPollingP50 = Millis(100 * time.Millisecond)
)

// Polling is the figure of the polling scenario: pickup without events at
// the worker's default poll interval, and what an idle fleet costs.
type Polling struct {
	PollInterval Millis  `json:"poll_interval_ms"`
	Pickup       Latency `json:"pickup"`
	// CPUPerTaskMicros is this process's CPU time per picked-up task
	// (runners, embedded store, creates) while the samples were taken.
	CPUPerTaskMicros float64 `json:"cpu_per_task_us"`
	// IdleWorkers runners (concurrency 4, no events) polled an empty
	// pool for IdleSeconds.
	IdleWorkers int     `json:"idle_workers"`
	IdleSeconds float64 `json:"idle_seconds"`
	// IdleCPUPct is this process's CPU time (the runners and, with the
	// embedded SQLite store, the store itself) over the idle window, in
	// percent of one core.
	IdleCPUPct float64 `json:"idle_cpu_pct"`
	// IdleStorePct is the store's CPU for the idle fleet's calls, in
	// percent of one core: its polls and reaper scans per second times the
	// CPU of one empty poll and one empty scan, each measured by running
	// them one after the other on the idle pool afterwards (with the
	// runners stopped, so no other work is counted).
	IdleStorePct float64 `json:"idle_store_pct"`
	// PollCPUMicros and ScanCPUMicros are those CPU times of one call.
	PollCPUMicros float64 `json:"poll_cpu_us"`
	ScanCPUMicros float64 `json:"scan_cpu_us"`
	// IdleScansPerSec counts the reapers' scans per second.
	IdleScansPerSec float64 `json:"idle_scans_per_sec"`
	// IdlePollsPerSec counts claims (polls) per second, IdleWritesPerSec
	// the store calls that write (claims that took a task, commits,
	// heartbeats, reaps, creates, updates): an empty claim is a read.
	IdlePollsPerSec  float64 `json:"idle_polls_per_sec"`
	IdleWritesPerSec float64 `json:"idle_writes_per_sec"`
	// StealPct is the machine's steal over the whole scenario (-1:
	// unknown); PeakRSSBytes the process's peak resident set so far.
	StealPct     float64 `json:"steal_pct"`
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
	TargetP50    Millis  `json:"target_p50_ms"`
}

// Met reports whether the pickup target is met.
func (p *Polling) Met() bool { return p.Pickup.P50 <= p.TargetP50 }

// polling runs the pickup scenario without events at the worker's default
// poll interval, then leaves DefaultIdleWorkers runners polling an empty
// pool and measures what they cost.
func (b *bench) polling(ctx context.Context) (*Polling, error) {
	pickupPool, idlePool := b.pool(PollingScenario), b.pool(PollingScenario+"-idle")
	counted := &countingStore{Store: b.store}
	pb := *b // the same bench, polling at the default interval without events
	pb.cfg.NoEvents, pb.cfg.PollInterval, pb.dispConn, pb.workConn = true, taskstate.DefaultPollInterval, nil, nil
	pb.cfg.PickupSamples, pb.store = min(b.cfg.PickupSamples, DefaultPollingSamples), counted
	// Tasks arrive at any moment of a poll interval: without this, each
	// sample would be created just after the runner's last poll (the one
	// that claimed the task before it) and wait a whole interval.
	pb.arrival = taskstate.DefaultPollInterval
	cpu0 := sampleCPU()
	l, err := pb.timePickup(ctx, pickupPool, "polling")
	if err != nil {
		return nil, err
	}
	p := &Polling{PollInterval: Millis(taskstate.DefaultPollInterval), Pickup: *l, TargetP50: TargetPollingP50,
		CPUPerTaskMicros: cpuBetween(cpu0, sampleCPU(), l.Samples).PerTask}

	pb.cfg.Workers, pb.cfg.Concurrency = DefaultIdleWorkers, 4
	fmt.Fprintf(b.out, "polling: %d idle runners on an empty pool for %s\n", pb.cfg.Workers, b.cfg.IdleFor)
	fl, err := pb.startFleet(ctx, idlePool, nil, map[string]taskstate.HandlerFunc{"noop": handlers.Noop})
	if err != nil {
		return nil, err
	}
	// The first polls of 50 runners start together; measure after them.
	if err := sleep(ctx, time.Second); err != nil {
		fl.stop()
		return nil, err
	}
	start, idle0, polls0, scans0, writes0 := time.Now(), sampleCPU(), counted.claims.Load(), counted.scans.Load(), counted.writes.Load()
	err = sleep(ctx, b.cfg.IdleFor)
	wall, idle1 := time.Since(start), sampleCPU()
	polls, scans, writes := counted.claims.Load()-polls0, counted.scans.Load()-scans0, counted.writes.Load()-writes0
	fl.stop()
	if err != nil {
		return nil, err
	}
	p.IdleWorkers, p.IdleSeconds = pb.cfg.Workers, wall.Seconds()
	p.IdleCPUPct = 100 * float64(idle1.proc-idle0.proc) / float64(wall)
	p.IdleScansPerSec = float64(scans) / wall.Seconds()
	if p.PollCPUMicros, p.ScanCPUMicros, err = idleOpCPU(ctx, pb.store, idlePool); err != nil {
		return nil, err
	}
	p.IdleStorePct = (float64(polls)*p.PollCPUMicros + float64(scans)*p.ScanCPUMicros) / wall.Seconds() / 1e4
	p.IdlePollsPerSec, p.IdleWritesPerSec = float64(polls)/wall.Seconds(), float64(writes)/wall.Seconds()
	p.StealPct = cpuBetween(cpu0, idle1, 0).StealPct
	p.PeakRSSBytes = peakRSS()
	fmt.Fprintf(b.out, "polling: pickup p50 %s, p99 %s at %s; idle fleet: %.2f %% of a core (the store's calls %.2f %%: %.0f polls/s at %.0f µs, %.1f scans/s at %.0f µs), %.1f writes/s\n",
		p.Pickup.P50, p.Pickup.P99, p.PollInterval, p.IdleCPUPct, p.IdleStorePct, p.IdlePollsPerSec, p.PollCPUMicros, p.IdleScansPerSec, p.ScanCPUMicros, p.IdleWritesPerSec)
	return p, nil
}

// idleOpCalls is how many empty polls and scans idleOpCPU times.
const idleOpCalls = 2000

// idleOpCPU returns the CPU (µs) of one empty claim and one reaper scan
// that finds nothing on pool, each the mean of idleOpCalls calls one after
// the other.
func idleOpCPU(ctx context.Context, s taskstate.Store, pool string) (poll, scan float64, err error) {
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: pool})
	if err != nil {
		return 0, 0, err
	}
	c0 := sampleCPU()
	for range idleOpCalls {
		if _, err := m.Claim(ctx, taskstate.ClaimOptions{Kinds: []string{"noop"}, Owner: "bench-idle", Limit: 4}); err != nil {
			return 0, 0, err
		}
	}
	c1 := sampleCPU()
	for range idleOpCalls {
		if _, err := m.ReapExpired(ctx, 2*time.Second); err != nil {
			return 0, 0, err
		}
	}
	c2 := sampleCPU()
	per := func(a, b cpuSample) float64 { return float64(b.proc-a.proc) / float64(time.Microsecond) / idleOpCalls }
	return per(c0, c1), per(c1, c2), nil
}

// randUpTo is a random duration in [0, d); 0 when d is 0.
func randUpTo(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// peakRSS is the process's peak resident set in bytes (0: unknown).
func peakRSS() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Maxrss * 1024 // Linux reports KiB
}

// countingStore counts the polls, the reaper's scans and the writes that
// reach the store.
type countingStore struct {
	taskstate.Store
	claims, scans, writes atomic.Int64
}

func (s *countingStore) ListExpired(ctx context.Context, p taskstate.ListExpiredParams) ([]*taskstate.Task, error) {
	s.scans.Add(1)
	return s.Store.ListExpired(ctx, p)
}

func (s *countingStore) wrote(n int) {
	if n > 0 {
		s.writes.Add(1)
	}
}

func (s *countingStore) Claim(ctx context.Context, p taskstate.ClaimParams) ([]*taskstate.Task, error) {
	s.claims.Add(1)
	ts, err := s.Store.Claim(ctx, p)
	s.wrote(len(ts))
	return ts, err
}

func (s *countingStore) CreateTasks(ctx context.Context, p taskstate.CreateTasksParams) ([]taskstate.CreatedTask, error) {
	s.wrote(len(p.Tasks))
	return s.Store.CreateTasks(ctx, p)
}

func (s *countingStore) Finish(ctx context.Context, p taskstate.FinishParams) ([]bool, error) {
	s.wrote(len(p.Items))
	return s.Store.Finish(ctx, p)
}

func (s *countingStore) Heartbeat(ctx context.Context, p taskstate.HeartbeatParams) ([]string, error) {
	s.wrote(len(p.Leases))
	return s.Store.Heartbeat(ctx, p)
}

func (s *countingStore) Update(ctx context.Context, p taskstate.UpdateParams) (int64, error) {
	s.wrote(1)
	return s.Store.Update(ctx, p)
}

func (s *countingStore) Delete(ctx context.Context, p taskstate.DeleteParams) (int64, error) {
	s.wrote(1)
	return s.Store.Delete(ctx, p)
}
