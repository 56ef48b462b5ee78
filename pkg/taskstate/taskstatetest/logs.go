package taskstatetest

import (
	"bytes"
	"context"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// logStore returns s's log role; every backend keeps task logs.
func (f *fixture) logStore() taskstate.LogStore {
	f.t.Helper()
	ls, ok := f.s.(taskstate.LogStore)
	require.True(f.t, ok, "the store keeps no task logs (taskstate.LogStore)")
	return ls
}

// putLog stores a log of the fixture's pool at the fixture's clock.
func (f *fixture) putLog(l taskstate.TaskLog, maxTail int) error {
	if l.UpdatedAt.IsZero() {
		l.UpdatedAt = f.now
	}
	return f.logStore().PutLog(f.ctx, taskstate.PutLogParams{Pool: f.pool, Log: l, MaxTail: maxTail})
}

func (f *fixture) logs(id string, phase taskstate.Status, attempt int) []taskstate.TaskLog {
	f.t.Helper()
	got, err := f.logStore().GetLogs(f.ctx, taskstate.GetLogsParams{Pool: f.pool, ID: id, Phase: phase, Attempt: attempt})
	require.NoError(f.t, err)
	return got
}

// textLog is a log whose whole output is kept.
func textLog(id string, phase taskstate.Status, attempt int, text string) taskstate.TaskLog {
	return taskstate.TaskLog{ID: id, Phase: phase, Attempt: attempt, Total: int64(len(text)), Tail: []byte(text)}
}

// logKeys names logs by phase and attempt, and checks their tails.
func logKeys(t T, logs []taskstate.TaskLog) []string {
	t.Helper()
	out := []string{}
	for _, l := range logs {
		out = append(out, string(l.Phase)+"/"+string(rune('0'+l.Attempt))+":"+string(l.Tail))
	}
	return out
}

var logCases = []Case{
	// Attempts are counted per phase, so a log is named by phase and
	// attempt; reads select by either and come phase one first.
	{Group: "Logs", Name: "PerPhaseAndAttempt", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := f.create(tasks(0, 2)...)
		id := ids[0]
		require.NoError(t, f.putLog(textLog(id, taskstate.StatusPartDone, 1, "p2a1"), 0))
		require.NoError(t, f.putLog(textLog(id, taskstate.StatusWaiting, 2, "a2"), 0))
		require.NoError(t, f.putLog(textLog(id, "", 1, "a1"), 0), `phase "" is phase one`)
		require.NoError(t, f.putLog(textLog(ids[1], taskstate.StatusWaiting, 1, "other"), 0))
		all := f.logs(id, "", 0)
		require.Equal(t, []string{"waiting/1:a1", "waiting/2:a2", "part_done/1:p2a1"}, logKeys(t, all))
		for _, l := range all {
			require.Equal(t, id, l.ID)
			require.Equal(t, int64(len(l.Tail)), l.Total)
			require.True(t, l.UpdatedAt.Equal(f.now), "updated_at %s, want %s", l.UpdatedAt, f.now)
		}
		require.Equal(t, []string{"waiting/2:a2"}, logKeys(t, f.logs(id, "", 2)))
		require.Equal(t, []string{"waiting/1:a1", "part_done/1:p2a1"}, logKeys(t, f.logs(id, "", 1)))
		require.Equal(t, []string{"waiting/1:a1", "waiting/2:a2"}, logKeys(t, f.logs(id, taskstate.StatusWaiting, 0)))
		require.Equal(t, []string{"part_done/1:p2a1"}, logKeys(t, f.logs(id, taskstate.StatusPartDone, 0)))
		require.Equal(t, []string{"part_done/1:p2a1"}, logKeys(t, f.logs(id, taskstate.StatusPartDone, 1)))
		require.Empty(t, f.logs(id, taskstate.StatusPartDone, 2))
		require.Equal(t, []string{"waiting/1:other"}, logKeys(t, f.logs(ids[1], "", 0)))
	}},

	{Group: "Logs", Name: "RePutReplaces", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		id := f.create(task("noop", 0))[0]
		require.NoError(t, f.putLog(textLog(id, taskstate.StatusWaiting, 1, "hello"), 0))
		f.advance(time.Second)
		grown := taskstate.TaskLog{ID: id, Attempt: 1, Total: 100, Tail: []byte("world")}
		require.NoError(t, f.putLog(grown, 0))
		got := f.logs(id, "", 0)
		require.Len(t, got, 1)
		require.Equal(t, int64(100), got[0].Total)
		require.Equal(t, []byte("world"), got[0].Tail)
		require.True(t, got[0].UpdatedAt.Equal(f.now), "updated_at %s, want %s", got[0].UpdatedAt, f.now)
	}},

	// The store keeps the last MaxTail bytes (DefaultMaxLog by default),
	// and refuses a bound, phase or attempt it cannot keep.
	{Group: "Logs", Name: "TailBound", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		id := f.create(task("noop", 0))[0]
		big := bytes.Repeat([]byte("0123456789abcdef"), taskstate.DefaultMaxLog/16+1)
		require.NoError(t, f.putLog(taskstate.TaskLog{ID: id, Attempt: 1, Total: 5 << 20, Tail: big}, 0))
		require.NoError(t, f.putLog(taskstate.TaskLog{ID: id, Attempt: 2, Total: 3, Tail: []byte("abcdefgh")}, 4))
		got := f.logs(id, "", 0)
		require.Len(t, got, 2)
		require.Equal(t, int64(5<<20), got[0].Total)
		require.Len(t, got[0].Tail, taskstate.DefaultMaxLog)
		require.True(t, bytes.Equal(big[len(big)-taskstate.DefaultMaxLog:], got[0].Tail), "the last DefaultMaxLog bytes are kept")
		require.Equal(t, []byte("efgh"), got[1].Tail)
		require.Equal(t, int64(8), got[1].Total, "a total below the tail given is raised to it")
		for name, bad := range map[string]taskstate.PutLogParams{
			"negative bound":   {Log: textLog(id, "", 3, "x"), MaxTail: -1},
			"bound over limit": {Log: textLog(id, "", 3, "x"), MaxTail: taskstate.MaxLogLimit + 1},
			"phase done":       {Log: textLog(id, taskstate.StatusDone, 3, "x")},
			"attempt 0":        {Log: textLog(id, "", 0, "x")},
		} {
			bad.Pool = f.pool
			require.Error(t, f.logStore().PutLog(ctx, bad), "%s", name)
		}
		require.Len(t, f.logs(id, "", 0), 2, "a refused log is not kept")
	}},

	// No log is not an error: a task without logs, or no task at all,
	// reads as empty.
	{Group: "Logs", Name: "NoLogsIsEmpty", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		id := f.create(task("noop", 0))[0]
		require.Empty(t, f.logs(id, "", 0))
		require.Empty(t, f.logs(id, taskstate.StatusWaiting, 1))
		require.Empty(t, f.logs(taskstate.NewID(), "", 0))
	}},

	// A log of a task that is not in the pool is refused with ErrNotFound
	// on every backend, and nothing of it is kept; pools are apart.
	{Group: "Logs", Name: "MissingTaskRefused", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		id := f.create(task("noop", 0))[0]
		ghost := taskstate.NewID()
		require.ErrorIs(t, f.putLog(textLog(ghost, "", 1, "boo"), 0), taskstate.ErrNotFound)
		require.Empty(t, f.logs(ghost, "", 0))
		other := newFixture(ctx, t, s)
		other.pool = "pool_b"
		other.create(task("noop", 9))
		require.ErrorIs(t, other.putLog(textLog(id, "", 1, "wrong pool"), 0), taskstate.ErrNotFound)
		require.Empty(t, f.logs(id, "", 0), "a log put in another pool is not this pool's")
		require.NoError(t, f.putLog(textLog(id, "", 1, "mine"), 0))
		require.Empty(t, other.logs(id, "", 0))
	}},

	{Group: "Logs", Name: "RemovedWithTask", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := f.create(tasks(0, 2)...)
		for _, id := range ids {
			require.NoError(t, f.putLog(textLog(id, "", 1, "one"), 0))
			require.NoError(t, f.putLog(textLog(id, taskstate.StatusPartDone, 1, "two"), 0))
		}
		n, err := s.Delete(ctx, taskstate.DeleteParams{Pool: f.pool, Query: taskstate.ByIDs(ids[0])})
		require.NoError(t, err)
		require.Equal(t, int64(1), n)
		require.Empty(t, f.logs(ids[0], "", 0))
		require.Len(t, f.logs(ids[1], "", 0), 2, "another task's logs stay")
		require.ErrorIs(t, f.putLog(textLog(ids[0], "", 2, "late"), 0), taskstate.ErrNotFound, "a flush after the removal")
		require.Empty(t, f.logs(ids[0], "", 0))
	}},

	// Output is bytes, not text: NULs, invalid UTF-8, CRs and one long
	// line without a newline come back exactly.
	{Group: "Logs", Name: "BinaryAndLongLines", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		id := f.create(task("noop", 0))[0]
		var b bytes.Buffer
		for i := range 256 {
			b.WriteByte(byte(i))
		}
		b.WriteString("\xff\xfe\xc3\x28 not utf-8\r\n\x00\x00")
		b.Write(bytes.Repeat([]byte{'x'}, 300<<10)) // a 300 KiB line
		want := b.Bytes()
		require.NoError(t, f.putLog(taskstate.TaskLog{ID: id, Attempt: 1, Total: int64(len(want)), Tail: want}, 0))
		got := f.logs(id, "", 0)
		require.Len(t, got, 1)
		require.True(t, bytes.Equal(want, got[0].Tail), "the tail round-trips byte-exact (%d bytes back, %d put)", len(got[0].Tail), len(want))
	}},
}
