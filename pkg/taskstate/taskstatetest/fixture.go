package taskstatetest

import (
	"context"
	"fmt"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// start is the clock of every case: whole seconds, so that every backend
// stores it exactly.
var start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fixture is one case's store, pool and clock, with helpers that fail the
// case on an unexpected error. The clock moves only when a case moves it.
type fixture struct {
	ctx  context.Context
	t    T
	s    taskstate.Store
	pool string
	now  time.Time
}

func newFixture(ctx context.Context, t T, s taskstate.Store) *fixture {
	return &fixture{ctx: ctx, t: t, s: s, pool: "pool_a", now: start}
}

func (f *fixture) advance(d time.Duration) { f.now = f.now.Add(d) }

// task is a NewTask of kind with filter {"i": i} and a one-byte def.
func task(kind string, i int) taskstate.NewTask {
	filter := map[string]any{"i": float64(i), "name": fmt.Sprintf("t%d", i)}
	return taskstate.NewTask{
		ID: taskstate.NewID(), Kind: kind, Key: taskstate.Key(kind, filter),
		Def: []byte{'d', byte(i)}, Filter: filter, MaxAttempts: 3,
	}
}

// tasks returns n tasks of kind "noop" numbered from first.
func tasks(first, n int) []taskstate.NewTask {
	out := make([]taskstate.NewTask, n)
	for i := range out {
		out[i] = task("noop", first+i)
	}
	return out
}

// create inserts tasks in the fixture's pool, one CreateTasks call each so
// that their creation order is their input order, and returns their ids.
func (f *fixture) create(ts ...taskstate.NewTask) []string {
	f.t.Helper()
	ids := make([]string, len(ts))
	for i, nt := range ts {
		res, err := f.s.CreateTasks(f.ctx, taskstate.CreateTasksParams{Pool: f.pool, Now: f.now, Tasks: []taskstate.NewTask{nt}})
		require.NoError(f.t, err)
		require.Len(f.t, res, 1)
		ids[i] = res[0].ID
	}
	return ids
}

// claim claims with defaults: from waiting, owner "w", a fresh token, a
// one-minute lease, limit 1.
func (f *fixture) claim(p taskstate.ClaimParams) []*taskstate.Task {
	f.t.Helper()
	p.Pool = f.pool
	if p.From == "" {
		p.From = taskstate.StatusWaiting
	}
	if p.Owner == "" {
		p.Owner = "w"
	}
	if p.Token == "" {
		p.Token = taskstate.NewToken()
	}
	p.Now = f.now
	if p.Lease == 0 {
		p.Lease = time.Minute
	}
	if p.Limit == 0 {
		p.Limit = 1
	}
	got, err := f.s.Claim(f.ctx, p)
	require.NoError(f.t, err)
	require.LessOrEqual(f.t, len(got), p.Limit)
	return got
}

func (f *fixture) claimOne() *taskstate.Task {
	f.t.Helper()
	got := f.claim(taskstate.ClaimParams{})
	require.Len(f.t, got, 1)
	return got[0]
}

func (f *fixture) finish(items ...taskstate.Transition) []bool {
	f.t.Helper()
	applied, err := f.s.Finish(f.ctx, taskstate.FinishParams{Pool: f.pool, Now: f.now, Items: items})
	require.NoError(f.t, err)
	require.Len(f.t, applied, len(items))
	return applied
}

// commit is the transition of a commit of task to done with res.
func commit(t *taskstate.Task, res string) taskstate.Transition {
	return taskstate.Transition{ID: t.ID, Token: t.Lease.Token, Seq: t.Seq, To: taskstate.StatusDone, SetRes: true, Res: []byte(res)}
}

func (f *fixture) get(id string) *taskstate.Task {
	f.t.Helper()
	got, err := f.s.Get(f.ctx, taskstate.GetParams{Pool: f.pool, ID: id, Payloads: true})
	require.NoError(f.t, err)
	return got
}

func (f *fixture) query(p taskstate.QueryParams) []*taskstate.Task {
	f.t.Helper()
	p.Pool = f.pool
	var out []*taskstate.Task
	for task, err := range f.s.Query(f.ctx, p) {
		require.NoError(f.t, err)
		out = append(out, task)
	}
	return out
}

func (f *fixture) ids(q taskstate.Query) []string {
	f.t.Helper()
	out := []string{}
	for _, task := range f.query(taskstate.QueryParams{Query: q}) {
		out = append(out, task.ID)
	}
	return out
}

func (f *fixture) stat(q taskstate.Query) taskstate.Counts {
	f.t.Helper()
	c, err := f.s.Stat(f.ctx, taskstate.StatParams{Pool: f.pool, Query: q})
	require.NoError(f.t, err)
	return c
}

// scan counts the pool's tasks by status from a full Query.
func (f *fixture) scan() taskstate.Counts {
	f.t.Helper()
	c := taskstate.NewCounts()
	for _, task := range f.query(taskstate.QueryParams{}) {
		c[task.Status]++
	}
	return c
}

func (f *fixture) update(p taskstate.UpdateParams) int64 {
	f.t.Helper()
	p.Pool = f.pool
	p.Now = f.now
	n, err := f.s.Update(f.ctx, p)
	require.NoError(f.t, err)
	return n
}

func counts(waiting, running, partDone, done, failed int) taskstate.Counts {
	return taskstate.Counts{
		taskstate.StatusWaiting: waiting, taskstate.StatusRunning: running, taskstate.StatusPartDone: partDone,
		taskstate.StatusDone: done, taskstate.StatusFailed: failed,
	}
}

func pick(ids []string, is ...int) []string {
	out := []string{}
	for _, i := range is {
		out = append(out, ids[i])
	}
	return out
}

func taskIDs(ts []*taskstate.Task) []string {
	out := []string{}
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}
