package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func init() {
	register("cancel", "end unfinished tasks by --id or --filter: failed with last_error \"cancelled: REASON\"; running ones lose their lease", cmdCancel)
	register("pause", "stop workers claiming from the pool (running tasks finish)", cmdPause)
	register("resume", "let workers claim from a paused pool again", cmdResume)
	register("workers", "list the live workers of the pool: host, pid, kinds, concurrency, last heartbeat", cmdWorkers)
}

// idList is a repeatable flag of task ids, each also comma-separated.
type idList []string

func (l *idList) String() string { return strings.Join(*l, ",") }

func (l *idList) Set(v string) error {
	*l = append(*l, splitList(v)...)
	return nil
}

func cmdCancel(ctx context.Context, m *Main, args []string) error {
	var (
		ids    idList
		filter string
		reason string
	)
	e, err := m.parse("cancel", "Cancel the waiting, part_done and running tasks given by --id (or as arguments) or --filter:\n"+
		"each ends failed with last_error \"cancelled: REASON\". A running task's lease is revoked in the same\n"+
		"write: its worker's next heartbeat (within lease/3) cancels the handler and its late result is refused.\n"+
		"retry-failed leaves cancelled tasks alone unless --include-cancelled.", args, func(fs *cli.FlagSet) {
		fs.Var(&ids, "id", "task `ID` to cancel; repeatable, or comma-separated")
		fs.StringVar(&filter, "filter", "", "", `JSON filter of the tasks to cancel, e.g. {"kind": "sleep"}`)
		fs.StringVar(&reason, "reason", "", "", "why, recorded in last_error (required)")
	})
	if err != nil {
		return err
	}
	q, err := e.query(filter, append(ids, e.pos...))
	if err != nil {
		return err
	}
	if q.IsEmpty() {
		return cli.Usagef("cancel: give --id or --filter (cancelling a whole pool needs a filter such as {\"status\": \"waiting\"})")
	}
	if strings.TrimSpace(reason) == "" {
		return cli.Usagef("%s: a reason is required", e.fs.Where("reason"))
	}
	if err := e.open(ctx); err != nil {
		return err
	}
	defer e.close()
	n, err := e.app.Manager.Cancel(ctx, taskstate.CancelParams{Query: q, Reason: reason})
	if err != nil {
		return err
	}
	if e.json() {
		return cli.WriteJSON(m.Stdout, map[string]any{"cancelled": n})
	}
	fmt.Fprintf(m.Stdout, "cancelled: %d tasks in pool %s\n", n, e.c.Pool)
	return nil
}

func cmdPause(ctx context.Context, m *Main, args []string) error {
	var reason string
	return pauseOrResume(ctx, m, "pause", "Pause the pool: workers claim nothing from it until `dispatcher resume`; the tasks they run\nfinish as usual. stat, the exporter (taskfleet_pool_paused) and -o json show it.", args,
		func(fs *cli.FlagSet) { fs.StringVar(&reason, "reason", "", "", "why, shown by stat") },
		func(ctx context.Context, mgr *taskstate.Manager) error { return mgr.Pause(ctx, reason) })
}

func cmdResume(ctx context.Context, m *Main, args []string) error {
	return pauseOrResume(ctx, m, "resume", "Resume a paused pool: workers claim from it again.", args, nil,
		func(ctx context.Context, mgr *taskstate.Manager) error { return mgr.Resume(ctx) })
}

func pauseOrResume(ctx context.Context, m *Main, name, summary string, args []string, extra func(fs *cli.FlagSet),
	do func(ctx context.Context, mgr *taskstate.Manager) error) error {
	e, err := m.parse(name, summary, args, extra)
	if err != nil {
		return err
	}
	if len(e.pos) > 0 {
		return cli.Usagef("%s: unexpected argument %q (the pool is --pool)", name, e.pos[0])
	}
	if err := e.open(ctx); err != nil {
		return err
	}
	defer e.close()
	if err := do(ctx, e.app.Manager); err != nil {
		return err
	}
	st, err := e.app.Manager.PoolState(ctx)
	if err != nil {
		return err
	}
	if e.json() {
		return cli.WriteJSON(m.Stdout, map[string]any{"pool": e.c.Pool, "state": st})
	}
	fmt.Fprintf(m.Stdout, "pool %s: %s\n", e.c.Pool, pausedWord(st))
	return nil
}

func pausedWord(st taskstate.PoolState) string {
	if !st.Paused {
		return "running (not paused)"
	}
	s := "paused since " + st.PausedAt.UTC().Format(time.RFC3339)
	if st.Reason != "" {
		s += ": " + st.Reason
	}
	return s
}

func cmdWorkers(ctx context.Context, m *Main, args []string) error {
	e, err := m.parse("workers", "List the live workers of the pool: those whose last heartbeat is less than their lease ago.\nA worker registers when it starts, renews its entry with each heartbeat and removes it when it stops.", args, nil)
	if err != nil {
		return err
	}
	if err := e.open(ctx); err != nil {
		return err
	}
	defer e.close()
	ws, err := e.app.Manager.Workers(ctx)
	if err != nil {
		return err
	}
	if e.json() {
		if ws == nil {
			ws = []taskstate.WorkerInfo{}
		}
		return cli.WriteJSON(m.Stdout, ws)
	}
	t := cli.NewTable(m.Stdout, "ID", "HOST", "PID", "KINDS", "CONCURRENCY", "FROM", "VERSION", "STARTED", "LAST HEARTBEAT")
	now := time.Now()
	for _, w := range ws {
		t.Row(w.ID, w.Host, w.PID, strings.Join(w.Kinds, ","), w.Concurrency, w.From, dash(w.Version),
			w.StartedAt.UTC().Format(time.RFC3339), now.Sub(w.SeenAt).Round(time.Second).String()+" ago")
	}
	if err := t.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(m.Stderr, "%d live workers in pool %s\n", len(ws), e.c.Pool)
	return nil
}

// warnUnserved logs a warning for each kind of specs that no live worker
// of the pool serves: such tasks wait until one starts. It goes through
// the logger (stderr; a JSON line with --log-format json). A failure to
// read the registry is a warning too: create has already succeeded.
func (e *env) warnUnserved(ctx context.Context, kinds []string) {
	log := e.app.Log.With(zap.String("pool", e.c.Pool))
	unserved, err := e.app.Manager.Unserved(ctx, kinds)
	if err != nil {
		log.Warn("cannot read the worker registry", zap.Error(err))
		return
	}
	for _, k := range unserved {
		log.Warn("no live worker serves this kind: its tasks wait until one starts (see dispatcher workers)", zap.String("kind", k))
	}
}
