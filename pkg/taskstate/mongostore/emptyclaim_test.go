package mongostore

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/event"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// TestEmptyClaimIsARead counts the commands a claim sends: one that finds
// nothing claimable (an empty pool, a kind it has none of) sends no
// findAndModify, only reads; one that finds a task claims it with one.
// The server's clock is read with hello once, not per claim. A claim woken
// by an event skips that read (it still reads the pool's pause).
func TestEmptyClaimIsARead(t *testing.T) {
	t.Parallel()
	var (
		mu   sync.Mutex
		sent = map[string]int{}
	)
	commands := func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for k, v := range sent {
			out[k] = v
		}
		clear(sent)
		return out
	}
	s := monitoredStore(t, func(e *event.CommandStartedEvent) {
		mu.Lock()
		sent[e.CommandName]++
		mu.Unlock()
	})
	ctx := t.Context()
	_, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "empty", Now: time.Now(), Tasks: newTasks("e", 1)})
	require.NoError(t, err)
	claimWoken := func(woken bool, kinds ...string) []*taskstate.Task {
		t.Helper()
		got, err := s.Claim(ctx, taskstate.ClaimParams{Pool: "empty", From: taskstate.StatusWaiting, Kinds: kinds, Owner: "w", Token: taskstate.NewToken(), Lease: time.Minute, Limit: 4, Woken: woken})
		require.NoError(t, err)
		return got
	}
	claim := func(kinds ...string) []*taskstate.Task { return claimWoken(false, kinds...) }
	commands()
	for range 5 {
		require.Empty(t, claim("other"))
	}
	got := commands()
	require.Zero(t, got["findAndModify"], "empty claims wrote: %v", got)
	require.Equal(t, 5, got["find"], "one read per empty claim: %v", got)
	require.LessOrEqual(t, got["hello"], 1, "the server's clock is read once a minute at most: %v", got)

	require.Empty(t, claimWoken(true, "other"))
	got = commands()
	require.Equal(t, 1, got["find"], "a woken claim reads only the pause: %v", got)
	require.Equal(t, 1, got["findAndModify"], "a woken claim that finds nothing: %v", got)

	require.Len(t, claim("noop"), 1)
	got = commands()
	require.Equal(t, 2, got["find"], "the probe, then the pause: %v", got)
	require.Equal(t, 2, got["findAndModify"], "the claim of a task: one that takes it and one that finds no second")

	_, err = s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "empty", Now: time.Now(), Tasks: newTasks("f", 1)})
	require.NoError(t, err)
	commands()
	require.Len(t, claimWoken(true, "noop"), 1)
	got = commands()
	require.Equal(t, 1, got["find"], "a woken claim of a task reads only the pause: %v", got)
	require.Equal(t, 2, got["findAndModify"], "a woken claim of a task: %v", got)
}
