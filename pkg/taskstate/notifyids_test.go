package taskstate_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// idNotes records the ids each event named.
type idNotes struct {
	mu  sync.Mutex
	ids map[taskstate.Event][]string
	n   map[taskstate.Event]int
}

func (r *idNotes) Notify(context.Context, string, taskstate.Event, int) {
	panic("an IDNotifier gets NotifyIDs")
}

func (r *idNotes) NotifyIDs(_ context.Context, _ string, ev taskstate.Event, n int, ids []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids[ev] = append(r.ids[ev], ids...)
	r.n[ev] += n
}

func TestManagerNotifiesIDs(t *testing.T) {
	runManagerCases(t, []managerCase{
		{name: "CreateCommitFailReap", fn: func(t *testing.T, e *env) {
			rec := &idNotes{ids: map[taskstate.Event][]string{}, n: map[taskstate.Event]int{}}
			m, err := taskstate.NewManager(taskstate.Config{Store: e.store, Pool: "ids", Now: e.clock.Now, Notifier: rec})
			require.NoError(t, err)
			ctx := e.ctx
			specs := []taskstate.TaskSpec{{Kind: "k", Def: def("A", 1)}, {Kind: "k", Def: def("A", 2)}, {Kind: "k", Def: def("A", 3)}}
			res, err := m.Create(ctx, specs, taskstate.CreateOptions{})
			require.NoError(t, err)
			_, err = m.Create(ctx, append(specs[:1:1], taskstate.TaskSpec{Kind: "k", Def: def("A", 4)}), taskstate.CreateOptions{})
			require.NoError(t, err)
			require.Len(t, rec.ids[taskstate.EventCreated], 4, "a duplicate is not created again")
			require.Equal(t, res.IDs, rec.ids[taskstate.EventCreated][:3])

			claimed, err := m.Claim(ctx, taskstate.ClaimOptions{Limit: 3, Lease: time.Minute})
			require.NoError(t, err)
			require.Len(t, claimed, 3)
			require.NoError(t, m.Commit(ctx, claimed[0], 1, taskstate.StatusDone))
			require.NoError(t, m.Fail(ctx, claimed[1], errors.New("boom")))
			e.clock.Advance(2 * time.Minute)
			rr, err := m.ReapExpired(ctx, 0)
			require.NoError(t, err)
			require.Equal(t, 1, rr.Requeued)
			require.Equal(t, []string{claimed[0].ID}, rec.ids[taskstate.EventCommitted])
			require.Equal(t, []string{claimed[1].ID}, rec.ids[taskstate.EventFailed])
			require.Equal(t, []string{claimed[2].ID}, rec.ids[taskstate.EventAvailable])
		}},
		{name: "IDsAreCapped", fn: func(t *testing.T, e *env) {
			rec := &idNotes{ids: map[taskstate.Event][]string{}, n: map[taskstate.Event]int{}}
			m, err := taskstate.NewManager(taskstate.Config{Store: e.store, Pool: "cap", Notifier: rec})
			require.NoError(t, err)
			specs := make([]taskstate.TaskSpec, taskstate.MaxEventIDs+10)
			for i := range specs {
				specs[i] = taskstate.TaskSpec{Kind: "k", Def: def("A", i)}
			}
			_, err = m.Create(e.ctx, specs, taskstate.CreateOptions{})
			require.NoError(t, err)
			require.Len(t, rec.ids[taskstate.EventCreated], taskstate.MaxEventIDs)
			require.Equal(t, len(specs), rec.n[taskstate.EventCreated], "the count stays exact")
		}},
	})
}
