package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func init() {
	register("wait", "block until every task is finished (Qlib's wait, event-driven); exit 4 if some failed, 3 on --timeout", cmdWait)
}

func cmdWait(ctx context.Context, m *Main, args []string) error {
	var (
		filter, terminal string
		timeout          time.Duration
		quiet            bool
	)
	e, err := m.parse("wait", "Block until every task matching --filter is in a terminal status.\nExits 0 when every task is done (or in another --terminal status that is not failed), 4 when all are finished but\nsome failed (printing up to 20 of them with their error), 3 on --timeout (printing the stuck tasks with owner and\nlease expiry), 2 on bad flags, a missing store file or an unknown pool.", args, func(fs *cli.FlagSet) {
		fs.StringVar(&filter, "filter", "", "", "JSON filter restricting the tasks waited for")
		fs.StringVar(&terminal, "terminal", "TASKFLEET_WAIT_TERMINAL", "done,failed", "statuses that count as finished (part_done counts as undone, as in Qlib)")
		fs.DurationVar(&timeout, "timeout", "TASKFLEET_WAIT_TIMEOUT", 0, "give up after this long (0: wait for ever) and exit 3")
		fs.BoolVar(&quiet, "quiet", "", false, "no progress output")
	})
	if err != nil {
		return err
	}
	q, err := e.query(filter, e.pos)
	if err != nil {
		return err
	}
	var term []taskstate.Status
	for _, s := range splitList(terminal) {
		st, err := taskstate.ParseStatus(s)
		if err != nil {
			return cli.Usagef("--terminal: %v", err)
		}
		term = append(term, st)
	}
	if err := e.open(ctx); err != nil {
		return err
	}
	defer e.close()
	wake, stop, err := e.app.Wakeups(ctx, taskstate.EventCommitted, taskstate.EventFailed, taskstate.EventCreated, taskstate.EventAvailable)
	if err != nil {
		return err
	}
	defer stop()
	var progress func(taskstate.Counts)
	var finish func()
	if !quiet {
		progress, finish = newProgress(e.notes(), term)
	}
	res, err := e.app.Manager.Wait(ctx, taskstate.WaitOptions{Query: q, Terminal: term, Wakeups: wake, Timeout: timeout, Progress: progress})
	if finish != nil {
		finish()
	}
	if errors.Is(err, taskstate.ErrWaitTimeout) {
		printStuck(m.Stdout, e, res.Stuck)
	}
	if err != nil {
		return err
	}
	var failed []*taskstate.Task
	if res.Counts[taskstate.StatusFailed] > 0 {
		if failed, err = failedTasks(ctx, e, q); err != nil {
			return err
		}
	}
	if e.json() {
		out := map[string]any{"counts": cli.CountsJSON(res.Counts), "elapsed_seconds": res.Elapsed.Seconds()}
		if failed != nil {
			out["failed"] = tasksJSON(failed)
		}
		if err := cli.WriteJSON(m.Stdout, out); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(m.Stdout, "all %d tasks finished in %s: %s\n", res.Counts.Total(), res.Elapsed.Round(time.Millisecond), summary(res.Counts))
		if failed != nil {
			printTasks(m.Stdout, fmt.Sprintf("failed tasks (%d of %d shown):", len(failed), res.Counts[taskstate.StatusFailed]), failed)
		}
	}
	if n := res.Counts[taskstate.StatusFailed]; n > 0 {
		return fmt.Errorf("%w: %d of %d tasks", cli.ErrTasksFailed, n, res.Counts.Total())
	}
	return nil
}

// maxFailedShown bounds the failed tasks wait lists.
const maxFailedShown = 20

// failedTasks returns up to maxFailedShown failed tasks matching q.
func failedTasks(ctx context.Context, e *env, q taskstate.Query) ([]*taskstate.Task, error) {
	out := []*taskstate.Task{}
	q = q.Where(taskstate.FieldStatus, taskstate.OpEq, string(taskstate.StatusFailed))
	for t, err := range e.app.Manager.Query(ctx, q, taskstate.QueryOptions{Limit: maxFailedShown}) {
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func tasksJSON(ts []*taskstate.Task) []cli.TaskJSON {
	out := make([]cli.TaskJSON, len(ts))
	for i, t := range ts {
		out[i] = cli.NewTaskJSON(t)
	}
	return out
}

func summary(c taskstate.Counts) string {
	var parts []string
	for _, s := range taskstate.Statuses {
		if c[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[s], s))
		}
	}
	if len(parts) == 0 {
		return "no tasks"
	}
	return strings.Join(parts, ", ")
}

func printStuck(w io.Writer, e *env, stuck []*taskstate.Task) {
	if e.json() {
		_ = cli.WriteJSON(w, map[string]any{"stuck": tasksJSON(stuck)})
		return
	}
	printTasks(w, "stuck tasks:", stuck)
}

// printTasks prints a titled table of tasks with their owner, lease end
// and error.
func printTasks(w io.Writer, title string, tasks []*taskstate.Task) {
	fmt.Fprintln(w, title)
	t := cli.NewTable(w, "ID", "STATUS", "KIND", "ATTEMPTS", "OWNER", "LEASE_UNTIL", "LAST_ERROR")
	for _, task := range tasks {
		until := "-"
		if !task.Lease.Until.IsZero() {
			until = task.Lease.Until.Local().Format(time.RFC3339)
		}
		t.Row(task.ID, task.Status, task.Kind, task.Attempts, dash(task.Lease.Owner), until, dash(cli.Shorten(task.LastError, 60)))
	}
	_ = t.Flush()
}

// newProgress shows a progress bar on a terminal and plain lines (at most
// one a second, and on the last change) otherwise.
func newProgress(w io.Writer, terminal []taskstate.Status) (func(taskstate.Counts), func()) {
	finished := func(c taskstate.Counts) int {
		n := 0
		for _, s := range terminal {
			n += c[s]
		}
		return n
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		var bar *progressbar.ProgressBar
		return func(c taskstate.Counts) {
				// ChangeMax draws the bar at its current value, so it runs only
				// when the total moved: on the first counts the bar would
				// otherwise show 0/N before the tasks already finished.
				if bar == nil {
					bar = progressbar.NewOptions(c.Total(), progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("waiting"),
						progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
				} else if bar.GetMax() != c.Total() {
					bar.ChangeMax(c.Total())
				}
				_ = bar.Set(finished(c))
				bar.Describe(fmt.Sprintf("waiting (%d running, %d failed)", c[taskstate.StatusRunning], c[taskstate.StatusFailed]))
			}, func() {
				if bar != nil {
					_ = bar.Finish()
				}
			}
	}
	var last time.Time
	var pending *taskstate.Counts
	emit := func(c taskstate.Counts) {
		fmt.Fprintf(w, "wait: %d/%d finished (%s)\n", finished(c), c.Total(), summary(c))
		last = time.Now()
		pending = nil
	}
	return func(c taskstate.Counts) {
			if time.Since(last) >= time.Second {
				emit(c)
				return
			}
			pending = &c
		}, func() {
			if pending != nil {
				emit(*pending)
			}
		}
}
