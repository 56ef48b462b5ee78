package main

import (
	"context"
	"fmt"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func init() {
	register("reset-waiting", "move tasks back to waiting: running ones unless --filter names a status", cmdResetWaiting)
	register("reset-status", "set the status of matching tasks (leases are cleared: holders are fenced out)", cmdResetStatus)
	register("retry-failed", "move failed tasks back to waiting with a fresh attempt budget", cmdRetryFailed)
	register("prioritize", "set the priority of tasks by id or --filter", cmdPrioritize)
	register("remove", "delete tasks by id or --filter (the whole pool needs --all)", cmdRemove)
}

// admin runs one admin operation over ids and/or --filter and reports how
// many tasks matched.
func admin(ctx context.Context, m *Main, name, summary string, args []string, extra func(fs *cli.FlagSet), needQuery bool,
	do func(e *env, q taskstate.Query) (int64, string, error)) error {
	var filter string
	e, err := m.parse(name, summary, args, func(fs *cli.FlagSet) {
		fs.StringVar(&filter, "filter", "", "", `JSON filter, e.g. {"status": "running", "lease.owner": "host:42"}`)
		if extra != nil {
			extra(fs)
		}
	})
	if err != nil {
		return err
	}
	q, err := e.query(filter, e.pos)
	if err != nil {
		return err
	}
	if needQuery && q.IsEmpty() {
		return cli.Usagef("%s: give task ids or --filter", name)
	}
	if err := e.open(ctx); err != nil {
		return err
	}
	defer e.close()
	n, what, err := do(e, q)
	if err != nil {
		return err
	}
	if e.json() {
		return cli.WriteJSON(m.Stdout, map[string]any{"matched": n})
	}
	fmt.Fprintf(m.Stdout, "%s: %d tasks in pool %s\n", what, n, e.c.Pool)
	return nil
}

func cmdResetWaiting(ctx context.Context, m *Main, args []string) error {
	return admin(ctx, m, "reset-waiting", "Move tasks back to waiting (Qlib's reset_waiting): the running ones, unless --filter names a status.\nThe reaper already does this for expired leases; use this to take tasks from live workers.", args, nil, false,
		func(e *env, q taskstate.Query) (int64, string, error) {
			n, err := e.app.Manager.ResetWaiting(ctx, q)
			return n, "reset to waiting", err
		})
}

func cmdResetStatus(ctx context.Context, m *Main, args []string) error {
	var status string
	return admin(ctx, m, "reset-status", "Set the status of the tasks matching ids or --filter (Qlib's reset_status).", args, func(fs *cli.FlagSet) {
		fs.StringVar(&status, "status", "", "", "new status: waiting, part_done, done or failed (required)")
	}, false, func(e *env, q taskstate.Query) (int64, string, error) {
		st, err := taskstate.ParseStatus(status)
		if err != nil {
			return 0, "", cli.Usagef("--status: %v", err)
		}
		n, err := e.app.Manager.ResetStatus(ctx, q, st)
		return n, "reset to " + status, err
	})
}

func cmdRetryFailed(ctx context.Context, m *Main, args []string) error {
	var cancelled bool
	return admin(ctx, m, "retry-failed", "Move failed tasks (matching ids or --filter) back to waiting with a fresh attempt budget.\nCancelled tasks (last_error \"cancelled: …\") stay failed unless --include-cancelled.", args, func(fs *cli.FlagSet) {
		fs.BoolVar(&cancelled, "include-cancelled", "", false, "retry cancelled tasks too")
	}, false,
		func(e *env, q taskstate.Query) (int64, string, error) {
			n, err := e.app.Manager.RetryFailedWith(ctx, q, taskstate.RetryOptions{IncludeCancelled: cancelled})
			return n, "retrying", err
		})
}

func cmdPrioritize(ctx context.Context, m *Main, args []string) error {
	var priority int
	return admin(ctx, m, "prioritize", "Set the priority of the tasks matching ids or --filter (higher runs first).", args, func(fs *cli.FlagSet) {
		fs.IntVar(&priority, "priority", "", 0, "the new priority")
	}, true, func(e *env, q taskstate.Query) (int64, string, error) {
		n, err := e.app.Manager.Prioritize(ctx, q, priority)
		return n, fmt.Sprintf("priority %d", priority), err
	})
}

func cmdRemove(ctx context.Context, m *Main, args []string) error {
	var all bool
	return admin(ctx, m, "remove", "Delete the tasks matching ids or --filter. With neither, --all is required: Qlib's remove() wipes the pool by default, this does not.", args, func(fs *cli.FlagSet) {
		fs.BoolVar(&all, "all", "", false, "allow an empty filter: remove every task of the pool")
	}, false, func(e *env, q taskstate.Query) (int64, string, error) {
		n, err := e.app.Manager.Remove(ctx, q, all)
		if err != nil && q.IsEmpty() {
			return 0, "", cli.Usagef("remove: give task ids or --filter, or --all to remove every task of pool %s", e.c.Pool)
		}
		return n, "removed", err
	})
}
