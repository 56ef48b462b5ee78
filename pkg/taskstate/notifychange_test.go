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

// idNotes records the ids and kinds each event named.
type idNotes struct {
	mu      sync.Mutex
	ids     map[taskstate.Event][]string
	n       map[taskstate.Event]int
	kinds   map[taskstate.Event]map[string]int
	delayed int
}

func newIDNotes() *idNotes {
	return &idNotes{ids: map[taskstate.Event][]string{}, n: map[taskstate.Event]int{}, kinds: map[taskstate.Event]map[string]int{}}
}

// Notify records a write that did not name its tasks (a cancel's failed
// event, a bulk update whose kinds were not read).
func (r *idNotes) Notify(_ context.Context, _ string, ev taskstate.Event, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n[ev] += n
}

func (r *idNotes) NotifyChange(_ context.Context, _ string, c taskstate.Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids[c.Event] = append(r.ids[c.Event], c.IDs...)
	r.n[c.Event] += c.N
	if c.Delayed {
		r.delayed++
	}
	for k, n := range c.Kinds {
		if r.kinds[c.Event] == nil {
			r.kinds[c.Event] = map[string]int{}
		}
		r.kinds[c.Event][k] += n
	}
}

// kindsPool returns a Manager of pool, recording into rec, that holds four
// waiting tasks of kinds k, j, j and i, in that order.
func kindsPool(t *testing.T, e *env, pool string) (m *taskstate.Manager, rec *idNotes) {
	t.Helper()
	rec = newIDNotes()
	m, err := taskstate.NewManager(taskstate.Config{Store: e.store, Pool: pool, Now: e.clock.Now, Notifier: rec})
	require.NoError(t, err)
	specs := []taskstate.TaskSpec{{Kind: "k", Def: def("A", 1)}, {Kind: "j", Def: def("A", 2)}, {Kind: "j", Def: def("A", 3)}, {Kind: "i", Def: def("A", 4)}}
	_, err = m.Create(e.ctx, specs, taskstate.CreateOptions{})
	require.NoError(t, err)
	return m, rec
}

func TestManagerNotifiesIDs(t *testing.T) {
	runManagerCases(t, []managerCase{
		{name: "CreateCommitFailReap", fn: func(t *testing.T, e *env) {
			rec := newIDNotes()
			m, err := taskstate.NewManager(taskstate.Config{Store: e.store, Pool: "ids", Now: e.clock.Now, Notifier: rec})
			require.NoError(t, err)
			ctx := e.ctx
			specs := []taskstate.TaskSpec{{Kind: "k", Def: def("A", 1)}, {Kind: "k", Def: def("A", 2)}, {Kind: "j", Def: def("A", 3)}}
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
			require.Equal(t, map[string]int{"k": 3, "j": 1}, rec.kinds[taskstate.EventCreated], "created events count their tasks by kind")
			require.Equal(t, map[string]int{claimed[2].Kind: 1}, rec.kinds[taskstate.EventAvailable], "a reaped task's kind")
			require.Nil(t, rec.kinds[taskstate.EventCommitted], "only created and available events carry kinds")
			require.Zero(t, rec.delayed)
		}},
		{name: "ReturnWithBackoffIsDelayed", fn: func(t *testing.T, e *env) {
			rec := newIDNotes()
			m, err := taskstate.NewManager(taskstate.Config{Store: e.store, Pool: "delayed", Now: e.clock.Now, Notifier: rec,
				Backoff: func(int) time.Duration { return time.Minute }})
			require.NoError(t, err)
			_, err = m.Create(e.ctx, []taskstate.TaskSpec{{Kind: "k", Def: def("A", 1)}}, taskstate.CreateOptions{})
			require.NoError(t, err)
			claimed, err := m.Claim(e.ctx, taskstate.ClaimOptions{Limit: 1, Lease: time.Minute})
			require.NoError(t, err)
			require.Len(t, claimed, 1)
			to, err := m.Return(e.ctx, claimed[0], errors.New("try again"))
			require.NoError(t, err)
			require.Equal(t, taskstate.StatusWaiting, to)
			require.Equal(t, []string{claimed[0].ID}, rec.ids[taskstate.EventAvailable])
			require.Equal(t, 1, rec.delayed, "a task back after a backoff wakes no worker now")
		}},
		{name: "RetryAndResetWakeTheirKinds", fn: func(t *testing.T, e *env) {
			m, rec := kindsPool(t, e, "retry")
			ctx := e.ctx
			claimed, err := m.Claim(ctx, taskstate.ClaimOptions{Limit: 4, Lease: time.Minute})
			require.NoError(t, err)
			require.Len(t, claimed, 4)
			for _, c := range claimed[:3] {
				require.NoError(t, m.Fail(ctx, c, errors.New("boom")))
			}
			_, err = m.Cancel(ctx, taskstate.CancelParams{Query: taskstate.ByIDs(claimed[3].ID)})
			require.NoError(t, err)
			rec.kinds[taskstate.EventAvailable] = nil
			n, err := m.RetryFailedWith(ctx, taskstate.Query{}, taskstate.RetryOptions{})
			require.NoError(t, err)
			require.Equal(t, int64(3), n)
			require.Equal(t, map[string]int{"k": 1, "j": 2, "i": 1}, rec.kinds[taskstate.EventAvailable],
				"a retry wakes workers of its tasks' kinds (counted before it writes, the cancelled one it keeps included)")
			rec.kinds[taskstate.EventAvailable] = nil
			n, err = m.ResetStatus(ctx, taskstate.ByStatus(taskstate.StatusFailed), taskstate.StatusWaiting)
			require.NoError(t, err)
			require.Equal(t, int64(1), n)
			require.Equal(t, map[string]int{"i": 1}, rec.kinds[taskstate.EventAvailable], "so does a reset")
		}},
		{name: "ResumeWakesItsKinds", fn: func(t *testing.T, e *env) {
			m, rec := kindsPool(t, e, "resume")
			ctx := e.ctx
			claimed, err := m.Claim(ctx, taskstate.ClaimOptions{Kinds: []string{"i"}, Limit: 1, Lease: time.Minute})
			require.NoError(t, err)
			require.NoError(t, m.Commit(ctx, claimed[0], 1, taskstate.StatusDone))
			require.NoError(t, m.Pause(ctx, "deploy"))
			rec.kinds[taskstate.EventAvailable], rec.n[taskstate.EventAvailable] = nil, 0
			require.NoError(t, m.Resume(ctx))
			require.Equal(t, map[string]int{"k": 1, "j": 2}, rec.kinds[taskstate.EventAvailable], "a resume wakes workers of its waiting tasks' kinds")
			require.Equal(t, 3, rec.n[taskstate.EventAvailable])
		}},
		{name: "PastTheCountTheRestWakeAnyKind", fn: func(t *testing.T, e *env) {
			// More claimable tasks than the Manager counts by kind: the
			// kinds it counted are named, the rest go under "" (any kind).
			rec := newIDNotes()
			m, err := taskstate.NewManager(taskstate.Config{Store: e.store, Pool: "many", Now: e.clock.Now, Notifier: rec})
			require.NoError(t, err)
			const extra = 6
			specs := make([]taskstate.TaskSpec, 1024+extra)
			for i := range specs {
				specs[i] = taskstate.TaskSpec{Kind: []string{"a", "b"}[i%2], Def: def("M", i)}
			}
			_, err = m.Create(e.ctx, specs, taskstate.CreateOptions{})
			require.NoError(t, err)
			check := func(what string, got map[string]int) {
				t.Helper()
				require.Equal(t, extra, got[""], "%s: the tasks past the count wake any kind", what)
				require.Equal(t, 1024, got["a"]+got["b"], "%s: the counted tasks are named by kind", what)
				require.Len(t, got, 3, "%s: %v", what, got)
			}
			require.NoError(t, m.Pause(e.ctx, "deploy"))
			rec.kinds[taskstate.EventAvailable] = nil
			require.NoError(t, m.Resume(e.ctx))
			check("resume", rec.kinds[taskstate.EventAvailable])
			rec.kinds[taskstate.EventAvailable] = nil
			n, err := m.ResetStatus(e.ctx, taskstate.ByStatus(taskstate.StatusWaiting), taskstate.StatusWaiting)
			require.NoError(t, err)
			require.Equal(t, int64(len(specs)), n)
			check("reset", rec.kinds[taskstate.EventAvailable])
		}},
		{name: "IDsAreCapped", fn: func(t *testing.T, e *env) {
			rec := newIDNotes()
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
