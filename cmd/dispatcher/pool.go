package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func init() {
	register("create", "create tasks from a JSON or YAML list (Qlib's create_task; idempotent)", cmdCreate)
	register("stat", "count the pool's tasks by status (Qlib's task_stat)", cmdStat)
	register("list", "list the pools of the store (Qlib's TaskManager.list)", cmdList)
	register("query", "list tasks matching a filter (Qlib's query)", cmdQuery)
	register("get", "show one task with its def and result (Qlib's re_query)", cmdGet)
}

func cmdStat(ctx context.Context, m *Main, args []string) error {
	var filter string
	e, err := m.parse("stat", "Count the pool's tasks by status; every status is shown, zeros included.", args, func(fs *cli.FlagSet) {
		fs.StringVar(&filter, "filter", "", "", `restrict to tasks matching a JSON filter, e.g. {"filter.model.class": "Linear"}`)
	})
	if err != nil {
		return err
	}
	q, err := e.query(filter, nil)
	if err != nil {
		return err
	}
	if err := e.open(ctx); err != nil {
		return err
	}
	defer e.close()
	c, err := e.app.Manager.Stat(ctx, q)
	if err != nil {
		return err
	}
	st, err := e.app.Manager.PoolState(ctx)
	if err != nil {
		return err
	}
	if e.json() { // one line: {"waiting":0,"running":0,"part_done":0,"done":2000,"failed":0}, and "paused":true while paused
		b, _ := cli.CountsJSON(c).MarshalJSON()
		if st.Paused {
			b = append(b[:len(b)-1], `,"paused":true}`...)
		}
		_, err := fmt.Fprintf(m.Stdout, "%s\n", b)
		return err
	}
	if st.Paused {
		fmt.Fprintf(m.Stdout, "pool %s: %s\n", e.c.Pool, pausedWord(st))
	}
	t := cli.NewTable(m.Stdout, "STATUS", "TASKS")
	for _, s := range taskstate.Statuses {
		t.Row(s, c[s])
	}
	t.Row("total", c.Total())
	return t.Flush()
}

func cmdList(ctx context.Context, m *Main, args []string) error {
	e, err := m.parse("list", "List the pools of the store with their task counts.", args, nil)
	if err != nil {
		return err
	}
	if err := e.open(ctx); err != nil {
		return err
	}
	defer e.close()
	pools, err := e.app.Manager.ListPools(ctx)
	if err != nil {
		return err
	}
	type row struct {
		Pool   string         `json:"pool"`
		Counts cli.CountsJSON `json:"counts"`
	}
	rows := make([]row, 0, len(pools))
	for _, p := range pools {
		c, err := e.app.Store.Stat(ctx, taskstate.StatParams{Pool: p})
		if err != nil {
			return err
		}
		rows = append(rows, row{Pool: p, Counts: cli.CountsJSON(c)})
	}
	if e.json() {
		return cli.WriteJSON(m.Stdout, rows)
	}
	t := cli.NewTable(m.Stdout, "POOL", "WAITING", "RUNNING", "PART_DONE", "DONE", "FAILED")
	for _, r := range rows {
		c := taskstate.Counts(r.Counts)
		t.Row(r.Pool, c[taskstate.StatusWaiting], c[taskstate.StatusRunning], c[taskstate.StatusPartDone], c[taskstate.StatusDone], c[taskstate.StatusFailed])
	}
	return t.Flush()
}

func cmdQuery(ctx context.Context, m *Main, args []string) error {
	var filter string
	var limit int
	e, err := m.parse("query", "List the tasks matching --filter, a MongoDB-style JSON filter over _id, status, kind,\npriority, attempts, lease.owner and filter.<path> (the def), with $eq $ne $in $nin $exists $gt $gte $lt $lte.", args, func(fs *cli.FlagSet) {
		fs.StringVar(&filter, "filter", "", "", `JSON filter, e.g. {"status": "failed"} or {"filter.model.class": {"$in": ["A", "B"]}}`)
		fs.IntVar(&limit, "limit", "", 0, "print at most this many tasks (0: all)")
	})
	if err != nil {
		return err
	}
	q, err := e.query(filter, e.pos)
	if err != nil {
		return err
	}
	if err := e.open(ctx); err != nil {
		return err
	}
	defer e.close()
	var t *cli.Table
	var out []cli.TaskJSON
	if !e.json() {
		t = cli.NewTable(m.Stdout, "ID", "STATUS", "KIND", "PRIORITY", "ATTEMPTS", "OWNER", "LAST_ERROR")
	}
	for task, err := range e.app.Manager.Query(ctx, q, taskstate.QueryOptions{Limit: limit}) {
		if err != nil {
			return err
		}
		if t != nil {
			t.Row(task.ID, task.Status, task.Kind, task.Priority, fmt.Sprintf("%d/%s", task.Attempts, maxAttempts(task.MaxAttempts)), dash(task.Lease.Owner), dash(cli.Shorten(task.LastError, 60)))
			continue
		}
		out = append(out, cli.NewTaskJSON(task))
	}
	if t != nil {
		return t.Flush()
	}
	if out == nil {
		out = []cli.TaskJSON{}
	}
	return cli.WriteJSON(m.Stdout, out)
}

func maxAttempts(n int) string {
	if n == 0 {
		return "∞"
	}
	return fmt.Sprint(n)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func cmdGet(ctx context.Context, m *Main, args []string) error {
	e, err := m.parse("get", "Show the tasks with the given ids, their def and their result (dispatcher get ID...).", args, nil)
	if err != nil {
		return err
	}
	if len(e.pos) == 0 {
		return cli.Usagef("get: at least one task id is required")
	}
	if err := e.open(ctx); err != nil {
		return err
	}
	defer e.close()
	var out []cli.TaskJSON
	for _, id := range e.pos {
		task, err := e.app.Manager.Get(ctx, id)
		if err != nil {
			return err
		}
		j := cli.NewTaskJSON(task)
		if j.Def, err = e.app.Manager.DecodeDef(task); err != nil {
			j.Def = "undecodable: " + err.Error()
		}
		if j.Res, err = e.app.Manager.DecodeRes(task); err != nil {
			j.Res = "undecodable: " + err.Error()
		}
		out = append(out, j)
	}
	if e.json() {
		if len(out) == 1 {
			return cli.WriteJSON(m.Stdout, out[0])
		}
		return cli.WriteJSON(m.Stdout, out)
	}
	// Several ids: one table each, a blank line apart.
	for i, j := range out {
		if i > 0 {
			fmt.Fprintln(m.Stdout)
		}
		if err := writeTaskTable(m.Stdout, j); err != nil {
			return err
		}
	}
	return nil
}

// writeTaskTable writes one task as a FIELD/VALUE table.
func writeTaskTable(w io.Writer, j cli.TaskJSON) error {
	t := cli.NewTable(w, "FIELD", "VALUE")
	t.Row("id", j.ID)
	t.Row("status", j.Status)
	t.Row("kind", j.Kind)
	t.Row("priority", j.Priority)
	t.Row("attempts", fmt.Sprintf("%d/%s", j.Attempts, maxAttempts(j.MaxAttempts)))
	t.Row("owner", dash(j.Owner))
	if j.LeaseUntil != nil {
		t.Row("lease until", j.LeaseUntil.Format(time.RFC3339))
	}
	t.Row("last error", dash(j.LastError))
	t.Row("created", j.CreatedAt.Format(time.RFC3339))
	t.Row("def", compact(j.Def))
	t.Row("res", compact(j.Res))
	return t.Flush()
}
