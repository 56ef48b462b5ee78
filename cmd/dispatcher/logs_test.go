package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/fleettest"
	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/events/eventstest"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// logsManager opens the SQLite store of env for the default pool, as a
// worker would, with retries claimable at once and events published to n
// (nil: none).
func logsManager(t *testing.T, env map[string]string, n taskstate.Notifier) *taskstate.Manager {
	t.Helper()
	s, err := sqlitestore.Open(t.Context(), sqlitestore.Config{Path: strings.TrimPrefix(env["TASKFLEET_STORE"], "sqlite://")})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "default", Backoff: func(int) time.Duration { return 0 }, Notifier: n})
	require.NoError(t, err)
	return m
}

// claimNew creates one task and claims it from waiting.
func claimNew(t *testing.T, m *taskstate.Manager, def string) *taskstate.Task {
	t.Helper()
	res, err := m.Create(t.Context(), []taskstate.TaskSpec{{Kind: "program", Def: map[string]any{"name": def}}}, taskstate.CreateOptions{})
	require.NoError(t, err)
	return claimID(t, m, res.IDs[0], taskstate.StatusWaiting)
}

func claimID(t *testing.T, m *taskstate.Manager, id string, from taskstate.Status) *taskstate.Task {
	t.Helper()
	got, err := m.Claim(t.Context(), taskstate.ClaimOptions{From: from, Owner: "w", Query: taskstate.ByIDs(id)})
	require.NoError(t, err)
	require.Len(t, got, 1)
	return got[0]
}

func putLog(t *testing.T, m *taskstate.Manager, task *taskstate.Task, total int64, tail string) {
	t.Helper()
	require.NoError(t, m.PutLog(t.Context(), taskstate.TaskLog{ID: task.ID, Phase: task.ClaimedFrom, Attempt: task.Attempts, Total: total, Tail: []byte(tail)}))
}

// TestLogs prints the output of a task that failed twice and of a
// two-phase task: the latest attempt by default, one by --attempt and
// --phase, all with headers, and as JSON.
func TestLogs(t *testing.T) {
	env := storeEnv(t)
	m := logsManager(t, env, nil)
	ctx := t.Context()

	failed := claimNew(t, m, "failing")
	putLog(t, m, failed, 14, "first attempt\n")
	to, err := m.Return(ctx, failed, errors.New("exit status 1"))
	require.NoError(t, err)
	require.Equal(t, taskstate.StatusWaiting, to)
	failed = claimID(t, m, failed.ID, taskstate.StatusWaiting)
	require.Equal(t, 2, failed.Attempts)
	second := "\x00binary\xff\xfe\r\nTraceback: boom" // the attempt wrote 100 bytes; these 26 are kept
	putLog(t, m, failed, 100, second)
	require.NoError(t, m.Fail(ctx, failed, errors.New("boom")))

	code, stdout, stderr := run(t, env, "logs", "--id", failed.ID)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, second, stdout, "the latest attempt, byte-exact")
	require.Contains(t, stderr, "the first 74 of 100 bytes were not kept")

	code, stdout, stderr = run(t, env, "logs", "--id", failed.ID, "--attempt", "1")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "first attempt\n", stdout)

	code, stdout, stderr = run(t, env, "logs", "--id", failed.ID, "--all")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, fmt.Sprintf("==> task %[1]s phase waiting attempt 1 <==\nfirst attempt\n"+
		"==> task %[1]s phase waiting attempt 2 (100 bytes written, the last 26 kept) <==\n%[2]s\n", failed.ID, second), stdout)

	code, stdout, stderr = run(t, env, "logs", "--id", failed.ID, "--all", "-o", "json")
	require.Equal(t, 0, code, stderr)
	var out struct {
		ID     string
		Status string
		Logs   []logJSON
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &out), stdout)
	require.Equal(t, failed.ID, out.ID)
	require.Equal(t, "failed", out.Status)
	require.Len(t, out.Logs, 2)
	require.Equal(t, logJSON{Phase: taskstate.StatusWaiting, Attempt: 1, Total: 14, Log: "first attempt\n"}, withoutTime(out.Logs[0]))
	require.Equal(t, logJSON{Phase: taskstate.StatusWaiting, Attempt: 2, Total: 100, Dropped: 74,
		Log: "\x00binary\uFFFD\r\nTraceback: boom"}, withoutTime(out.Logs[1]), "invalid UTF-8 is replaced in JSON")
	require.False(t, out.Logs[1].UpdatedAt.IsZero())

	// Two phases: attempt 1 of each; the default and --attempt take the
	// latest phase, --phase the other.
	two := claimNew(t, m, "two-phase")
	putLog(t, m, two, 7, "fitted\n")
	require.NoError(t, m.Commit(ctx, two, "model", taskstate.StatusPartDone))
	two = claimID(t, m, two.ID, taskstate.StatusPartDone)
	require.Equal(t, 1, two.Attempts, "attempts are counted per phase")
	putLog(t, m, two, 7, "scored\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "scored\n"},
		{[]string{"--attempt", "1"}, "scored\n"},
		{[]string{"--phase", "waiting"}, "fitted\n"},
		{[]string{"--phase", "part_done", "--attempt", "1"}, "scored\n"},
	} {
		code, stdout, stderr = run(t, env, append([]string{"logs", "--id", two.ID}, tc.args...)...)
		require.Equal(t, 0, code, "%v: %s", tc.args, stderr)
		require.Equal(t, tc.want, stdout, "%v", tc.args)
	}

	code, stdout, stderr = run(t, env, "logs", "--id", two.ID, "--attempt", "2")
	require.Equal(t, 0, code, stderr)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "has no kept output")
	code, stdout, _ = run(t, env, "logs", "--id", two.ID, "--attempt", "2", "-o", "json")
	require.Equal(t, 0, code)
	require.JSONEq(t, fmt.Sprintf(`{"id": %q, "status": "running", "logs": []}`, two.ID), stdout)

	ghost := taskstate.NewID()
	code, stdout, stderr = run(t, env, "logs", "--id", ghost)
	require.Equal(t, 1, code)
	require.Empty(t, stdout)
	require.Contains(t, stderr, ghost)
	require.Contains(t, stderr, "not found")
}

func withoutTime(l logJSON) logJSON {
	l.UpdatedAt = time.Time{}
	return l
}

func TestLogsFlagErrorsExit2(t *testing.T) {
	env := storeEnv(t)
	id := taskstate.NewID()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"logs"}, "--id: a task id is required"},
		{[]string{"logs", "--id", "xyz"}, `--id: task id "xyz"`},
		{[]string{"logs", id}, "give the task with --id"},
		{[]string{"logs", "--id", id, "--attempt", "-1"}, "--attempt: -1"},
		{[]string{"logs", "--id", id, "--attempt", "one"}, "invalid value"},
		{[]string{"logs", "--id", id, "--phase", "done"}, `--phase: "done"`},
		{[]string{"logs", "--id", id, "-f", "--all"}, "-f: follows the running attempt"},
		{[]string{"logs", "--id", id, "-f", "--attempt", "2"}, "-f: follows the running attempt"},
		{[]string{"logs", "--id", id, "-f", "-o", "json"}, "-f: prints the output as it comes"},
		{[]string{"logs", "--id", id, "--interval", "0s"}, "--interval: 0s"},
		{[]string{"logs", "--id", id, "-o", "yaml"}, "-o: unknown output format"},
	} {
		code, stdout, stderr := run(t, env, tc.args...)
		require.Equal(t, 2, code, "%v: %s", tc.args, stderr)
		require.Contains(t, stderr, tc.want, "%v", tc.args)
		require.Empty(t, stdout, "%v", tc.args)
	}
}

// syncBuffer is a bytes.Buffer written by the command and read by the
// test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startLogs runs the dispatcher with args in the background; done
// delivers its exit code.
func startLogs(ctx context.Context, env map[string]string, args ...string) (stdout, stderr *syncBuffer, done <-chan int) {
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	m := &Main{Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr, Getenv: func(k string) string { return env[k] }}
	ch := make(chan int, 1)
	go func() { ch <- m.Run(ctx, args) }()
	return stdout, stderr, ch
}

// waitPrinted waits until the command has printed exactly want.
func waitPrinted(t *testing.T, stdout *syncBuffer, want string) {
	t.Helper()
	fleettest.Eventually(t, 10*time.Second, func() error {
		if got := stdout.String(); got != want {
			return fmt.Errorf("printed %q, want %q", got, want)
		}
		return nil
	})
}

// exitCode waits for the command to end.
func exitCode(t *testing.T, done <-chan int, stderr *syncBuffer) int {
	t.Helper()
	select {
	case code := <-done:
		return code
	case <-time.After(10 * time.Second):
		t.Fatalf("logs -f did not stop; stderr: %s", stderr.String())
		return -1
	}
}

// TestLogsFollow follows a running attempt whose log a writer grows the
// way a worker does: the whole kept tail (here the last 16 bytes) with the
// running total. Each chunk is written once the follower printed the one
// before, so every read finds new bytes; -f prints each exactly once, and
// exits 0 when the task is committed.
func TestLogsFollow(t *testing.T) {
	env := storeEnv(t)
	m := logsManager(t, env, nil)
	task := claimNew(t, m, "followed")
	putLog(t, m, task, 6, "start\n")

	stdout, stderr, done := startLogs(context.Background(), env, "logs", "--id", task.ID, "-f", "--interval", "5ms")
	want := "start\n"
	waitPrinted(t, stdout, want)
	const keep = 16
	for i := range 20 {
		want += fmt.Sprintf("line %02d\n", i)
		putLog(t, m, task, int64(len(want)), want[max(0, len(want)-keep):])
		waitPrinted(t, stdout, want)
	}
	// The last flush lands just before the commit, in one step.
	want += "bye\n"
	putLog(t, m, task, int64(len(want)), want[len(want)-keep:])
	require.NoError(t, m.Commit(t.Context(), task, "ok", ""))
	require.Equal(t, 0, exitCode(t, done, stderr), stderr.String())
	require.Equal(t, want, stdout.String(), "every byte printed once, in order")
	require.Contains(t, stderr.String(), "left running: done")
	require.NotContains(t, stderr.String(), "not kept")
}

// TestLogsFollowStopsOnInterrupt: -f of a task that keeps running ends,
// exit 0, when its context ends (SIGINT in main).
func TestLogsFollowStopsOnInterrupt(t *testing.T) {
	env := storeEnv(t)
	m := logsManager(t, env, nil)
	task := claimNew(t, m, "endless")
	putLog(t, m, task, 3, "hi\n")
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr, done := startLogs(ctx, env, "logs", "--id", task.ID, "-f", "--interval", "5ms")
	waitPrinted(t, stdout, "hi\n")
	cancel()
	require.Equal(t, 0, exitCode(t, done, stderr), stderr.String())
}

// TestLogsFollowWakesOnEvents: with NATS, the commit's event ends -f at
// once, with the rest of the log printed; the read interval is an hour, so
// only the event can end it within the test's deadline.
func TestLogsFollowWakesOnEvents(t *testing.T) {
	srv := eventstest.Server(t, events.EmbeddedConfig{})
	env := storeEnv(t)
	env["TASKFLEET_NATS"] = srv.ClientURL()
	conn := eventstest.Connect(t, srv, events.Config{})
	m := logsManager(t, env, conn.Notifier())
	task := claimNew(t, m, "evented")
	putLog(t, m, task, 6, "start\n")

	stdout, stderr, done := startLogs(context.Background(), env, "logs", "--id", task.ID, "-f", "--interval", "1h")
	waitPrinted(t, stdout, "start\n")
	putLog(t, m, task, 11, "start\nend.\n")
	require.NoError(t, m.Commit(t.Context(), task, "ok", ""))
	require.Equal(t, 0, exitCode(t, done, stderr), "-f wakes on the commit's event: %s", stderr.String())
	require.Equal(t, "start\nend.\n", stdout.String())
}
