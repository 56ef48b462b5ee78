package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/taskfleet/taskfleet/internal/app"
	"github.com/taskfleet/taskfleet/internal/bench"
	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/internal/redact"
)

func init() {
	register("bench", "benchmark burn-down, pickup and wait latency, create and stat (embedded by default)", cmdBench)
}

const benchSummary = `Benchmark a pool end to end, like river bench. By default everything is embedded and fresh: a
SQLite file in a temporary directory, an in-process NATS server, in-process runners. Scenarios:

  burndown  create -n no-op tasks (default 100,000), start --workers runners, time them until all are
            done (tasks/s; a progress line every 2 s)
  pickup    on an idle fleet, create one task at a time and time create → handler start
            (--samples, default 500; p50/p90/p99/max)
  wait      time Manager.Wait's return after the commit of the last task (--samples, default 100)
  create    create -n tasks (default 1,000,000) in batches of --batch (tasks/s, and the rates of the
            first and the last tenth of the tasks: does the rate hold as the pool grows)
  stat      count the create scenario's pool by status (median of 20 runs)
  create-cli  (only when named) write a JSON task file of -n no-op tasks (default 100,000) and run this
            binary's "create -f" on it in a child process: tasks/s, CPU per task, steal, peak RSS
  polling   pickup without events at the worker's default poll interval (100 samples; p50/p99, CPU
            per task, steal, peak RSS), then 50 idle runners on an empty pool for --idle-for (CPU,
            polls/s, store writes/s)
  fanout    only when named: for each of --fanout-workers fleet sizes (default 4,32,128), start that
            many worker processes (--worker-bin, --fanout-concurrency) idle on a pool, measure them idle
            (--fanout-idle), then create --fanout-tasks tasks one at a time; prints store operations
            and CPU per task and an idle worker's cost, from the workers' metrics; fails if a task
            ran more than once
  filtered  (only when named) fill a pool of -n tasks (default 1,000,000) whose defs have a
            model.class, index it, and time counts of 1,000 _ids, one class, status+kind
  multiproc (only when named) burn down -n tasks with one worker process × --concurrency, then
            with --procs processes × concurrency/procs, on one SQLite file without events; then
            the same processes on a file each (-n in all: what the processes cost without sharing).
            The one process runs on every CPU; each of the --procs processes on its share
            (worker --cpus: --proc-cpus, by default the CPUs / --procs, at least 1, as
            docs/SCALE.md recommends)

-n and --samples, when given, apply to every scenario that uses them. --store and --nats are used only
when given on the command line (their environment variables are ignored here, so a benchmark never
writes to a configured store by accident). Pools are named bench-<run>-<scenario> (--pool is not used)
and removed at the end unless --keep.
Progress goes to stderr, the results to stdout (-o json: one object with every figure and the
configuration).`

func cmdBench(ctx context.Context, m *Main, args []string) error {
	var (
		scenarios            string
		n, samples, batch    int
		workers, concurrency int
		noEvents, keep       bool
		pollInterval, idle   time.Duration
		idleFor              time.Duration
		cpuProfile           string
		gcPercent            int
		fan                  fanoutFlags
		procs, procCPUs      int
		workerBin            string
	)
	e, err := m.parse("bench", benchSummary, args, func(fs *cli.FlagSet) {
		fs.StringVar(&scenarios, "scenario", "", "all", "scenarios to run: all, or a comma-separated list of burndown, pickup, wait, create, stat, polling, create-cli, fanout, filtered, multiproc (the last four run only when named)")
		fs.IntVar(&n, "n", "", 0, "tasks to create: 0 means 100,000 for burndown and 1,000,000 for create and stat")
		fs.IntVar(&batch, "batch", "", bench.DefaultBatch, "tasks per Create call when filling a pool")
		fs.IntVar(&workers, "workers", "", bench.DefaultWorkers, "in-process runners (they share the store handle and the NATS connection)")
		fs.IntVar(&concurrency, "concurrency", "", bench.DefaultConcurrency, "tasks each runner runs at once")
		fs.IntVar(&samples, "samples", "", 0, "latency samples: 0 means 500 for pickup and 100 for wait")
		fs.BoolVar(&noEvents, "no-events", "", false, "no NATS: runners poll every --poll-interval and wait recounts on its fallback timer")
		fs.DurationVar(&pollInterval, "poll-interval", "", bench.DefaultPollInterval, "the runners' fallback poll interval (jittered ±20%), as the worker's --poll-interval")
		fs.DurationVar(&idle, "idle", "", bench.DefaultIdle, "pause before each pickup and wait sample, so that each finds an idle fleet (0: none)")
		fs.DurationVar(&idleFor, "idle-for", "", bench.DefaultIdleFor, "how long the polling scenario measures its idle fleet")
		fs.BoolVar(&keep, "keep", "", false, "keep the benchmark pools in --store afterwards")
		fs.StringVar(&cpuProfile, "cpuprofile", "", "", "write a CPU profile of the whole run to this file (read it with go tool pprof)")
		cli.RegisterGCPercent(fs, &gcPercent)
		fan.register(fs)
		fs.IntVar(&procs, "procs", "", bench.DefaultProcs, "worker processes of the multiproc scenario's second run")
		fs.IntVar(&procCPUs, "proc-cpus", "", 0, "--cpus of each of the multiproc scenario's --procs worker processes (0: the CPUs / --procs, at least 1; -1: none, Go's default of every CPU)")
		fs.StringVar(&workerBin, "worker-bin", "", "", "worker binary of the fanout and multiproc scenarios (default: the worker next to this binary, then on PATH)")
	})
	if err != nil {
		return err
	}
	if len(e.pos) > 0 {
		return cli.Usagef("bench: unexpected argument %q (the bench command takes only flags)", e.pos[0])
	}
	list, err := bench.ParseScenarios(scenarios)
	if err != nil {
		return cli.Usagef("%s: %v", e.fs.Where("scenario"), err)
	}
	for _, f := range []struct {
		name     string
		v, least int
	}{{"n", n, 0}, {"samples", samples, 0}, {"batch", batch, 1}, {"workers", workers, 1}, {"concurrency", concurrency, 1}, {"procs", procs, 1}} {
		if f.v < f.least {
			return cli.Usagef("%s: must be at least %d, got %d", e.fs.Where(f.name), f.least, f.v)
		}
	}
	if procCPUs < -1 || procCPUs > cli.MaxCPUs {
		return cli.Usagef("%s: %d: want -1 (Go's default), 0 (the CPUs / --procs) or up to %d", e.fs.Where("proc-cpus"), procCPUs, cli.MaxCPUs)
	}
	if workers > cli.MaxWorkers || concurrency > cli.MaxConcurrency {
		return cli.Usagef("--workers and --concurrency: at most %d and %d, got %d and %d", cli.MaxWorkers, cli.MaxConcurrency, workers, concurrency)
	}
	fanout, err := fan.config(e.fs)
	if err != nil {
		return err
	}
	gc, err := cli.ApplyGCPercent(m.Getenv, gcPercent, e.fs.Where("gc-percent"))
	if err != nil {
		return err
	}
	if pollInterval <= 0 {
		return cli.Usagef("%s: must be positive, got %s", e.fs.Where("poll-interval"), pollInterval)
	}
	if idleFor <= 0 {
		return cli.Usagef("%s: must be positive, got %s", e.fs.Where("idle-for"), idleFor)
	}
	if idle < 0 {
		return cli.Usagef("%s: must not be negative, got %s", e.fs.Where("idle"), idle)
	}
	if idle == 0 {
		idle = -1 // bench.Config: no pause at all
	}
	given := map[string]bool{}
	e.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if noEvents && given["nats"] {
		return cli.Usagef("--nats and --no-events exclude each other")
	}
	log, err := e.c.NewLog(m.Stderr)
	if err != nil {
		return err
	}
	cfg := bench.Config{
		Scenarios: list, N: n, CreateN: n, Batch: batch, Workers: workers, Concurrency: concurrency,
		PickupSamples: samples, WaitSamples: samples, NoEvents: noEvents, PollInterval: pollInterval,
		Idle: idle, Keep: keep, Logger: log, GCPercent: gc, CreateCLIN: n, IdleFor: idleFor, Fanout: fanout,
		Procs: procs, ProcCPUs: procCPUs, WorkerBin: workerBin,
	}
	if cfg.Fanout.WorkerBin == "" {
		cfg.Fanout.WorkerBin = workerBin
	}
	if cfg.Executable, err = os.Executable(); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if given["store"] {
		store, err := app.OpenStore(ctx, &e.c, log)
		if err != nil {
			return err
		}
		defer store.Close()
		cfg.Store, cfg.StoreName, cfg.StoreURI = store, redact.URI(e.c.Store), e.c.Store
	}
	if given["nats"] && !noEvents {
		ecfg, _ := app.EventsConfig(&e.c, "bench", log, nil)
		cfg.Events = &ecfg
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return cli.Usagef("%s: %v", e.fs.Where("cpuprofile"), err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	res, err := bench.Run(ctx, cfg, e.notes())
	if err != nil && res.Burndown == nil && res.Pickup == nil && res.Wait == nil && res.Create == nil && res.Stat == nil && res.CreateCLI == nil && res.Polling == nil && res.Fanout == nil {
		return err
	}
	var werr error
	if e.json() {
		werr = cli.WriteJSON(m.Stdout, res)
	} else {
		werr = bench.WriteTable(m.Stdout, res)
	}
	if err != nil {
		return err
	}
	return werr
}
