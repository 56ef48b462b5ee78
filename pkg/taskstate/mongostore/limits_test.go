package mongostore

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// TestDocumentLimit: FerretDB stores documents over MongoDB's 16 MiB, so
// the store's own guard must refuse them. A create whose task would not
// fit fails with ErrPayloadTooLarge naming the entry, and writes nothing;
// a commit whose result would not fit fails that task (fenced, with the
// reason, not retried) and commits the others of the batch.
func TestDocumentLimit(t *testing.T) {
	t.Parallel()
	s := openTestStore(t)
	ctx := t.Context()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const pool = "limits"

	big := newTasks("big", 3)
	big[1].Def = bytes.Repeat([]byte{1}, 9<<20)
	big[1].Filter["blob"] = strings.Repeat("x", 7<<20) // def + filter > 16 MiB
	_, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: pool, Now: now, Tasks: big})
	require.ErrorIs(t, err, taskstate.ErrPayloadTooLarge)
	require.Contains(t, err.Error(), "task 1:")
	counts, err := s.Stat(ctx, taskstate.StatParams{Pool: pool})
	require.NoError(t, err)
	require.Equal(t, taskstate.NewCounts(), counts, "nothing written")

	// A task with a 9 MiB def (it fits) and two small ones.
	ts := newTasks("fit", 3)
	ts[0].Def = bytes.Repeat([]byte{2}, 9<<20)
	_, err = s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: pool, Now: now, Tasks: ts})
	require.NoError(t, err)
	held, err := s.Claim(ctx, taskstate.ClaimParams{Pool: pool, From: taskstate.StatusWaiting, Owner: "w", Token: taskstate.NewToken(), Now: now, Lease: time.Minute, Limit: 3})
	require.NoError(t, err)
	require.Len(t, held, 3)
	commit := func(tk *taskstate.Task, res []byte) taskstate.Transition {
		return taskstate.Transition{ID: tk.ID, Token: tk.Lease.Token, To: taskstate.StatusDone, SetRes: true, Res: res}
	}
	applied, err := s.Finish(ctx, taskstate.FinishParams{Pool: pool, Now: now, Items: []taskstate.Transition{
		commit(held[0], bytes.Repeat([]byte{4}, 8<<20)), // 9 + 8 MiB: too large
		commit(held[1], bytes.Repeat([]byte{5}, 6<<20)), // read, then written: fits
		commit(held[2], []byte("small")),
	}})
	require.NoError(t, err)
	require.Equal(t, []bool{true, true, true}, applied)

	failed, err := s.Get(ctx, taskstate.GetParams{Pool: pool, ID: held[0].ID, Payloads: true})
	require.NoError(t, err)
	require.Equal(t, taskstate.StatusFailed, failed.Status)
	require.Contains(t, failed.LastError, "payload too large")
	require.Nil(t, failed.Res)
	require.Empty(t, failed.Lease.Token, "the lease is gone: nothing to reap")
	for i, want := range [][]byte{bytes.Repeat([]byte{5}, 6<<20), []byte("small")} {
		got, err := s.Get(ctx, taskstate.GetParams{Pool: pool, ID: held[i+1].ID, Payloads: true})
		require.NoError(t, err)
		require.Equal(t, taskstate.StatusDone, got.Status)
		require.True(t, bytes.Equal(want, got.Res), "task %d result", i+1)
	}
}
