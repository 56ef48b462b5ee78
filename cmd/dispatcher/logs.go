package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func init() {
	register("logs", "print a task's kept output (-f follows it while it runs)", cmdLogs)
}

const logsSummary = `Print the kept output (stdout and stderr, the last bytes of it) of one task, failed ones too.
Without --all it prints the latest selected log as it was written: the last attempt of the
last phase, or the one --attempt and --phase name. --all prints every selected log, each
after a header. -f follows the running attempt: it prints the new output as the worker
stores it (every second) and exits 0 when the task leaves running, or on interrupt.`

// logsFlags are the flags of `dispatcher logs`.
type logsFlags struct {
	id       string
	attempt  int
	phase    string
	all      bool
	follow   bool
	interval time.Duration
}

func cmdLogs(ctx context.Context, m *Main, args []string) error {
	var f logsFlags
	e, err := m.parse("logs", logsSummary, args, func(fs *cli.FlagSet) {
		fs.StringVar(&f.id, "id", "", "", "task id (required)")
		fs.IntVar(&f.attempt, "attempt", "", 0, "attempt number within its phase (0: the latest)")
		fs.StringVar(&f.phase, "phase", "", "", "phase of the attempt: waiting (phase one) or part_done (phase two); empty: both")
		fs.BoolVar(&f.all, "all", "", false, "print every selected attempt, each after a header")
		fs.BoolVar(&f.follow, "f", "", false, "follow the running attempt until the task leaves running")
		fs.DurationVar(&f.interval, "interval", "TASKFLEET_LOGS_INTERVAL", 500*time.Millisecond, "how often -f reads the stored log (events end the follow sooner)")
	})
	if err != nil {
		return err
	}
	phase, err := f.validate(e)
	if err != nil {
		return err
	}
	if err := e.open(ctx); err != nil {
		return err
	}
	defer e.close()
	if f.follow {
		return followLog(ctx, e, f)
	}
	task, err := e.app.Manager.Get(ctx, f.id)
	if err != nil {
		return err
	}
	logs, err := e.app.Manager.Logs(ctx, f.id, phase, f.attempt)
	if err != nil {
		return err
	}
	if !f.all && len(logs) > 1 {
		logs = logs[len(logs)-1:]
	}
	return printLogs(e, task, logs, f.all)
}

// validate checks the flags and returns the --phase.
func (f *logsFlags) validate(e *env) (taskstate.Status, error) {
	switch {
	case len(e.pos) > 0:
		return "", cli.Usagef("logs: unexpected argument %q (give the task with --id)", e.pos[0])
	case f.id == "":
		return "", cli.Usagef("--id: a task id is required")
	case !taskstate.ValidID(f.id):
		return "", cli.Usagef("--id: task id %q: want 24 hex digits", f.id)
	case f.attempt < 0:
		return "", cli.Usagef("--attempt: %d: want 1 or more (0: the latest)", f.attempt)
	case f.interval <= 0:
		return "", cli.Usagef("--interval: %s: want a positive duration", f.interval)
	case f.follow && (f.all || f.attempt != 0 || f.phase != ""):
		return "", cli.Usagef("-f: follows the running attempt; it takes no --all, --attempt or --phase")
	case f.follow && e.json():
		return "", cli.Usagef("-f: prints the output as it comes; -o json is for a finished read")
	}
	if f.phase == "" {
		return "", nil
	}
	p, err := taskstate.ParseStatus(f.phase)
	if err != nil || !p.Claimable() {
		return "", cli.Usagef("--phase: %q: want waiting (phase one) or part_done (phase two)", f.phase)
	}
	return p, nil
}

// logJSON is one log in -o json. Log is the kept tail as text (bytes that
// are not UTF-8 become U+FFFD); the plain output is byte-exact.
type logJSON struct {
	Phase     taskstate.Status `json:"phase"`
	Attempt   int              `json:"attempt"`
	Total     int64            `json:"total"`
	Dropped   int64            `json:"dropped"`
	UpdatedAt time.Time        `json:"updated_at"`
	Log       string           `json:"log"`
}

func printLogs(e *env, task *taskstate.Task, logs []taskstate.TaskLog, headers bool) error {
	w := e.m.Stdout
	if e.json() {
		out := make([]logJSON, len(logs))
		for i, l := range logs {
			out[i] = logJSON{Phase: l.Phase, Attempt: l.Attempt, Total: l.Total, Dropped: dropped(l),
				UpdatedAt: l.UpdatedAt, Log: strings.ToValidUTF8(string(l.Tail), "\uFFFD")}
		}
		return cli.WriteJSON(w, map[string]any{"id": task.ID, "status": task.Status, "logs": out})
	}
	if len(logs) == 0 {
		fmt.Fprintf(e.notes(), "dispatcher: task %s (%s) has no kept output\n", task.ID, task.Status)
		return nil
	}
	for _, l := range logs {
		d := dropped(l)
		switch {
		case headers && d > 0:
			fmt.Fprintf(w, "==> %s (%d bytes written, the last %d kept) <==\n", logName(l), l.Total, len(l.Tail))
		case headers:
			fmt.Fprintf(w, "==> %s <==\n", logName(l))
		case d > 0:
			fmt.Fprintf(e.notes(), "dispatcher: %s: the first %d of %d bytes were not kept\n", logName(l), d, l.Total)
		}
		if _, err := w.Write(l.Tail); err != nil {
			return err
		}
		if headers && len(l.Tail) > 0 && l.Tail[len(l.Tail)-1] != '\n' {
			fmt.Fprintln(w)
		}
	}
	return nil
}

func dropped(l taskstate.TaskLog) int64 { return max(0, l.Total-int64(len(l.Tail))) }

// logName names a log in headers and notes.
func logName(l taskstate.TaskLog) string {
	return fmt.Sprintf("task %s phase %s attempt %d", l.ID, l.Phase, l.Attempt)
}

// followLog prints the log of the task's running attempt as it grows. The
// worker stores the whole tail with the attempt's running total, so each
// read prints the bytes past the total printed so far. The task is read
// before its log: once it is seen out of running, one more read of the log
// prints the rest. Events (commit, failure, return) end the follow at once;
// the log itself is read every interval.
func followLog(ctx context.Context, e *env, f logsFlags) error {
	wake, stop, err := e.app.Wakeups(ctx, taskstate.EventCommitted, taskstate.EventFailed, taskstate.EventAvailable)
	if err != nil {
		return err
	}
	defer stop()
	m := e.app.Manager
	task, err := m.Get(ctx, f.id)
	if err != nil {
		return err
	}
	if task.Status != taskstate.StatusRunning {
		logs, err := m.Logs(ctx, f.id, "", 0)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.notes(), "dispatcher: task %s is %s, not running: its latest output follows\n", task.ID, task.Status)
		return printLogs(e, task, logs[max(0, len(logs)-1):], false)
	}
	fl := follower{w: e.m.Stdout, note: e.notes()}
	tick := time.NewTicker(f.interval)
	defer tick.Stop()
	for {
		cur, err := m.Get(ctx, f.id)
		if errors.Is(err, taskstate.ErrNotFound) {
			return fmt.Errorf("task %s was removed while followed: %w", f.id, err)
		}
		if err != nil {
			return stopped(ctx, err)
		}
		over := cur.Status != taskstate.StatusRunning || cur.Lease.Token != task.Lease.Token
		logs, err := m.Logs(ctx, f.id, task.ClaimedFrom, task.Attempts)
		if err != nil {
			return stopped(ctx, err)
		}
		if len(logs) > 0 {
			if err := fl.print(logs[0]); err != nil {
				return err
			}
		}
		if over {
			fmt.Fprintf(e.notes(), "dispatcher: task %s left running: %s\n", f.id, cur.Status)
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-tick.C:
		}
	}
}

// stopped turns the error of a read cut short by an interrupt into a clean
// stop.
func stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil //nolint:nilerr // an interrupt ends a follow cleanly, whatever the read said
	}
	return err
}

// follower prints the new bytes of a growing log.
type follower struct {
	w, note io.Writer
	printed int64 // the log's total already printed
}

func (f *follower) print(l taskstate.TaskLog) error {
	n := l.Total - f.printed
	if n <= 0 {
		return nil
	}
	tail := l.Tail
	if n > int64(len(tail)) {
		fmt.Fprintf(f.note, "dispatcher: %d bytes of output were not kept\n", n-int64(len(tail)))
	} else {
		tail = tail[int64(len(tail))-n:]
	}
	f.printed = l.Total
	_, err := f.w.Write(tail)
	return err
}
