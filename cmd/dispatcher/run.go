package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/internal/app"
	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/internal/job"
	"github.com/taskfleet/taskfleet/internal/redact"
	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/rolling"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func init() {
	register("run", "the main job: generate rolling tasks, run them, wait, collect and ensemble", cmdRun)
	register("collect", "collect and ensemble the predictions of a pool's finished tasks", cmdCollect)
}

// jobEnv parses a job command's flags and config and opens the store and
// events: fully embedded (in-process NATS) unless --store or --nats is set.
type jobEnv struct {
	*env
	cfg      *job.Config
	embedded bool
	wakeups  job.WakeupFunc
	closeBus func()
	manager  *taskstate.Manager
}

func (m *Main) openJob(ctx context.Context, name, summary string, args []string, extra func(fs *cli.FlagSet)) (*jobEnv, error) {
	var file, mode string
	e, err := m.parse(name, summary, args, func(fs *cli.FlagSet) {
		fs.StringVar(&file, "f", "", "", "job config (YAML): pool, calendar, dataset, tasks, generators, collect, workers; or a Qlib workflow config with a taskfleet: section")
		if name == "run" { // collect runs no task: where it would does not matter
			fs.StringVar(&mode, "mode", "TASKFLEET_RUN_MODE", modeAuto, "embedded (in-process workers and NATS on --store), fleet (create and wait; workers elsewhere run the tasks: needs --nats), or auto: embedded with neither --store nor --nats, fleet with --nats")
		}
		if extra != nil {
			extra(fs)
		}
	})
	if err != nil {
		return nil, err
	}
	if file == "" {
		return nil, cli.Usagef("-f: a job config is required (see examples/rolling/demo.yaml)")
	}
	cfg, err := job.Load(file)
	if err != nil {
		return nil, jobErr(err)
	}
	je := &jobEnv{env: e, cfg: cfg, closeBus: func() {}}
	if name != "run" {
		je.embedded = !e.fs.IsSet("store") && !e.fs.IsSet("nats")
	} else if je.embedded, err = jobMode(e.fs, mode); err != nil {
		return nil, err
	}
	// --pool overrides the config's pool:. A pool from the environment
	// (set for a whole fleet, say) that disagrees with the config is an
	// error rather than a silent override.
	switch {
	case e.fs.IsSet("pool") && !e.fs.FromEnv("pool"):
		cfg.Pool = e.c.Pool
	case e.fs.IsSet("pool") && e.c.Pool != cfg.Pool:
		return nil, cli.Usagef("%s=%s but %s says pool: %s; pass --pool to choose, or unset %s", e.fs.Where("pool"), e.c.Pool, file, cfg.Pool, e.fs.Where("pool"))
	default:
		e.c.Pool = cfg.Pool
	}
	log, err := e.c.NewLog(m.Stderr)
	if err != nil {
		return nil, err
	}
	cfg.LogUnused(log)
	if !je.embedded {
		if err := e.open(ctx); err != nil {
			return nil, err
		}
		je.manager = e.app.Manager
		if e.app.Events != nil {
			je.wakeups = wakeupsOf(e.app.Events, cfg.Pool)
		}
		return je, nil
	}
	if err := e.checkStoreExists(); err != nil {
		return nil, err
	}
	store, err := app.OpenStore(ctx, &e.c, log)
	if err != nil {
		return nil, err
	}
	srv, err := events.StartEmbedded(events.EmbeddedConfig{InProcessOnly: true})
	if err != nil {
		store.Close()
		return nil, err
	}
	conn, err := events.ConnectInProcess(ctx, srv, events.Config{Name: "dispatcher", Logger: log, MemoryStorage: true})
	if err != nil {
		srv.Shutdown()
		store.Close()
		return nil, err
	}
	je.closeBus = func() { conn.Close(); srv.Shutdown(); store.Close() }
	je.manager, err = taskstate.NewManager(taskstate.Config{Store: store, Pool: cfg.Pool, Notifier: conn.Notifier(), Logger: log, RedactError: e.c.Redactor().String})
	if err != nil {
		je.closeBus()
		return nil, err
	}
	je.app = &app.App{Log: log, Store: store, Events: conn, Manager: je.manager}
	if err := e.checkPoolExists(ctx); err != nil {
		je.closeBus()
		return nil, err
	}
	je.wakeups = wakeupsOf(conn, cfg.Pool)
	return je, nil
}

// The values of --mode.
const (
	modeAuto     = "auto"
	modeEmbedded = "embedded"
	modeFleet    = "fleet"
)

// jobMode decides between embedded and fleet. A store without --nats is
// ambiguous (a fleet's workers would never hear of the tasks, or the user
// meant to run them here), so auto refuses it instead of guessing.
func jobMode(fs *cli.FlagSet, mode string) (embedded bool, err error) {
	store, nats := fs.IsSet("store"), fs.IsSet("nats")
	switch mode {
	case modeEmbedded:
		if nats {
			return false, cli.Usagef("%s: embedded runs its own in-process NATS; drop %s or use --mode fleet", fs.Where("mode"), fs.Where("nats"))
		}
		return true, nil
	case modeFleet:
		return false, nil
	case modeAuto:
		if store && !nats {
			return false, cli.Usagef("%s without --nats: say --mode fleet (create and wait while workers elsewhere run the tasks) or --mode embedded (run them here, in-process, on that store)", fs.Where("store"))
		}
		return !store && !nats, nil
	}
	return false, cli.Usagef("%s: unknown mode %q (want auto, embedded or fleet)", fs.Where("mode"), mode)
}

func wakeupsOf(conn *events.Conn, pool string) job.WakeupFunc {
	return func(ctx context.Context, evs ...taskstate.Event) (<-chan struct{}, func(), error) {
		w, err := conn.Wakeups(ctx, pool, evs...)
		if err != nil {
			return nil, nil, err
		}
		return w.C(), func() { _ = w.Close() }, nil
	}
}

func (je *jobEnv) close() {
	if !je.embedded {
		je.env.close()
		return
	}
	je.closeBus()
}

// jobErr turns configuration errors into usage errors (exit 2).
func jobErr(err error) error {
	if errors.Is(err, job.ErrInvalidConfig) {
		return &cli.UsageError{Msg: err.Error()}
	}
	return genErr(err)
}

func cmdRun(ctx context.Context, m *Main, args []string) error {
	var (
		reset   bool
		timeout time.Duration
		until   string
		rewrite bool
	)
	je, err := m.openJob(ctx, "run", "Run the main job of -f CONFIG: generate the rolling tasks, create them (finished tasks are reused),\nrun them, wait, then collect, ensemble and score the predictions.\nWith neither --store nor --nats it runs fully embedded: SQLite in .taskfleet/, in-process NATS and workers.\nWith --nats (or --mode fleet) it only creates and waits while a fleet of workers runs the tasks;\n--store without --nats needs --mode to say which. The first line printed says which mode runs.\nWith --until DATE (or until: in the config) a pool that has windows is rolled forward instead: only the windows that follow\neach group's latest one up to DATE are created, then every window is collected (see collect.signal).", args, func(fs *cli.FlagSet) {
		fs.BoolVar(&reset, "reset", "", false, "remove every task of the pool first")
		fs.DurationVar(&timeout, "timeout", "TASKFLEET_WAIT_TIMEOUT", 0, "give up waiting after this long and exit 3 (0: wait for ever)")
		fs.BoolVar(&rewrite, "overwrite-signal", "", false, "rewrite collect.signal with the whole ensemble instead of appending the days after its last date")
		fs.StringVar(&until, "until", "", "", "roll a pool that has windows forward: add the windows that follow each group's latest one up to this test end (YYYY-MM-DD; default: the config's until:)")
	})
	if err != nil {
		return err
	}
	defer je.close()
	if until != "" {
		if _, err := rolling.ParseDate(until); err != nil {
			return cli.Usagef("--until: %v", err)
		}
		je.cfg.Until = until
	}
	je.cfg.Collect.OverwriteSignal = rewrite
	var progress func(taskstate.Counts)
	finish := func() {}
	if je.c.Output != "json" {
		progress, finish = newProgress(je.notes(), []taskstate.Status{taskstate.StatusDone, taskstate.StatusFailed})
	}
	mode := "fleet (tasks run on the workers of " + redact.URI(je.c.Store) + ")"
	if je.embedded {
		mode = fmt.Sprintf("embedded (%d in-process workers × %d)", je.cfg.Workers, je.cfg.Concurrency)
	}
	fmt.Fprintf(je.notes(), "run: pool %s, %s\n", je.cfg.Pool, mode)
	if je.embedded {
		je.app.Log.Info("to run this config on a fleet, start workers as", zap.Strings("worker", je.cfg.WorkerCommands()))
	} else {
		for _, line := range je.cfg.WorkerCommands() {
			fmt.Fprintf(je.notes(), "run: the fleet's workers run: %s\n", line)
		}
	}
	res, err := job.Run(ctx, job.Options{
		Config: je.cfg, Manager: je.manager, Wakeups: je.wakeups, Log: je.app.Log, Progress: progress,
		InProcess: je.embedded, Reset: reset, Timeout: timeout, WorkParent: m.Getenv("TMPDIR"),
	})
	finish()
	if res != nil {
		if errors.Is(err, taskstate.ErrWaitTimeout) {
			printStuck(m.Stdout, je.env, res.Stuck)
		} else if perr := printRun(m.Stdout, je.env, res); perr != nil {
			return perr
		}
	}
	return jobErr(err)
}

func printRun(w io.Writer, e *env, res *job.Result) error {
	if e.json() {
		return cli.WriteJSON(w, res)
	}
	fmt.Fprintf(w, "pool %s: %d tasks (%d new, %d reused), %d done, %d failed, wall time %s\n",
		res.Pool, res.Tasks, res.New, res.Reused, res.Counts["done"], res.Counts["failed"], res.Wall.Round(time.Millisecond))
	if res.Online {
		fmt.Fprintf(w, "windows added: %d\n", res.Added)
	}
	if res.Collected != nil {
		printCollected(w, res.Collected)
	}
	return nil
}

func printCollected(w io.Writer, c *job.Collected) {
	if len(c.Windows) > 0 {
		t := cli.NewTable(w, "WINDOW", "TEST_IC", "ROWS")
		for _, win := range c.Windows {
			t.Row(win.Key, fmt.Sprintf("%.4f", win.TestIC), win.Rows)
		}
		_ = t.Flush()
	}
	t := cli.NewTable(w, "ENSEMBLE", "IC", "RANK_IC", "ICIR", "RANK_ICIR", "ROWS")
	t.Row(fmt.Sprintf("%d group(s)", c.Groups), fmt.Sprintf("%.4f", c.IC), fmt.Sprintf("%.4f", c.RankIC), fmt.Sprintf("%.3f", c.ICIR), fmt.Sprintf("%.3f", c.RankICIR), c.Rows)
	_ = t.Flush()
	fmt.Fprintf(w, "predictions written to %s\n", c.Output)
	if s := c.Signal; s != nil && s.Days > 0 {
		fmt.Fprintf(w, "signal %s: %d days appended (%s to %s)\n", s.Path, s.Days, s.From, s.To)
	} else if s != nil {
		fmt.Fprintf(w, "signal %s: up to date\n", s.Path)
	}
}

func cmdCollect(ctx context.Context, m *Main, args []string) error {
	je, err := m.openJob(ctx, "collect", "Collect the predictions of the finished tasks of the pool of -f CONFIG (or --pool), group them\nby the config's collect.key, ensemble them, print the IC summary and write the predictions.", args, nil)
	if err != nil {
		return err
	}
	defer je.close()
	col, err := job.Collect(ctx, je.cfg, je.manager, taskstate.Query{}, je.app.Log)
	if err != nil {
		return err
	}
	if je.json() {
		return cli.WriteJSON(m.Stdout, col)
	}
	printCollected(m.Stdout, col)
	return nil
}
