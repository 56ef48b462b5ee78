package mongostore

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/internal/mongotest"
)

// TestClaimInFlightSurvivesCancel cancels the caller's context as the
// first findAndModify of a claim is sent (a worker shutting down): that
// call runs to its end and its task is returned, no further call is made,
// and the one running task in the store is the one returned, so none is
// left running by a claim the worker never saw.
func TestClaimInFlightSurvivesCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var (
		mu    sync.Mutex
		calls int
	)
	s := monitoredStore(t, func(e *event.CommandStartedEvent) {
		if e.CommandName == "findAndModify" {
			mu.Lock()
			calls++
			mu.Unlock()
			cancel()
		}
	})

	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	_, err := s.CreateTasks(t.Context(), taskstate.CreateTasksParams{Pool: "inflight", Now: now, Tasks: newTasks("t", 5)})
	require.NoError(t, err)
	got, err := s.Claim(ctx, taskstate.ClaimParams{Pool: "inflight", From: taskstate.StatusWaiting, Owner: "w", Token: taskstate.NewToken(),
		Now: now, Lease: time.Minute, Limit: 5})
	require.NoError(t, err, "the tasks claimed before the cancel are returned without an error")
	require.Len(t, got, 1, "the call in flight completes; no call starts after the cancel")
	mu.Lock()
	require.Equal(t, 1, calls)
	mu.Unlock()

	var running []string
	for task, err := range s.Query(t.Context(), taskstate.QueryParams{Pool: "inflight", Query: taskstate.Query{}.Where("status", taskstate.OpEq, "running")}) {
		require.NoError(t, err)
		running = append(running, task.ID)
	}
	require.Equal(t, []string{got[0].ID}, running)

	_, err = s.Claim(ctx, taskstate.ClaimParams{Pool: "inflight", From: taskstate.StatusWaiting, Owner: "w", Token: taskstate.NewToken(),
		Now: now, Lease: time.Minute, Limit: 5})
	require.ErrorIs(t, err, context.Canceled, "a claim on a done context sends nothing")
	mu.Lock()
	require.Equal(t, 1, calls)
	mu.Unlock()
}

// monitoredStore opens a Store on the test server whose client calls
// started for every command it sends.
func monitoredStore(t *testing.T, started func(*event.CommandStartedEvent)) *Store {
	t.Helper()
	uri := testURI(t)
	opts, err := clientOptions(uri, newScrubber(uri), zap.NewNop())
	require.NoError(t, err)
	opts.SetMonitor(&event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) { started(e) }})
	client, err := mongo.Connect(opts)
	require.NoError(t, err)
	s := &Store{client: client, db: client.Database(mongotest.Database(t, uri)), log: zap.NewNop(), sc: newScrubber(uri)}
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}
