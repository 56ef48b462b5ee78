package taskstate

import (
	"context"
	"sync"
	"time"
)

// MaxEventIDs caps the task ids one event carries, so a bulk create of a
// million tasks publishes one small message; the count stays exact.
const MaxEventIDs = 64

// Change is what one store write changed, for a ChangeNotifier.
type Change struct {
	// Event is the event of the write.
	Event Event
	// N is how many tasks the write touched (exact).
	N int
	// IDs are the ids of the touched tasks when the writer knew them, at
	// most MaxEventIDs.
	IDs []string
	// Kinds counts the touched tasks by kind, when the writer knew them
	// (a create, a returned or reaped task); nil when it did not (a bulk
	// update, a resumed pool). A work queue wakes only workers of these
	// kinds; nil wakes a worker of any kind. The key "" (no kind is empty)
	// counts the tasks whose kinds were not read, which wake workers of
	// any kind: a bulk update of more tasks than the Manager counts names
	// the kinds it counted and the rest under "".
	Kinds map[string]int
	// Delayed is set when the touched tasks become claimable only after a
	// backoff: no worker needs waking now.
	Delayed bool
}

// ChangeNotifier is a Notifier that also takes what a write changed: the
// ids of its tasks for readers of the event history (`dispatcher events`,
// the console's activity feed), and their kinds for wake-ups that go to
// one worker of the right kind. The Manager uses it when its Notifier
// implements it.
type ChangeNotifier interface {
	NotifyChange(ctx context.Context, pool string, c Change)
}

// notifyTasks notifies ev for tasks, naming their ids and kinds when the
// Notifier takes them.
func (m *Manager) notifyTasks(ctx context.Context, ev Event, ids []string, kindOf func(i int) string) {
	m.notifyChange(ctx, ev, ids, kindOf, false)
}

// notifyChange is notifyTasks, with Change.Delayed.
func (m *Manager) notifyChange(ctx context.Context, ev Event, ids []string, kindOf func(i int) string, delayed bool) {
	if len(ids) == 0 || m.cfg.Notifier == nil {
		return
	}
	cn, ok := m.cfg.Notifier.(ChangeNotifier)
	if !ok {
		m.notify(ctx, ev, len(ids))
		return
	}
	c := Change{Event: ev, N: len(ids), IDs: ids[:min(len(ids), MaxEventIDs)], Delayed: delayed}
	if kindOf != nil && (ev == EventCreated || ev == EventAvailable) {
		c.Kinds = make(map[string]int, 1)
		for i := range ids {
			c.Kinds[kindOf(i)]++
		}
	}
	cn.NotifyChange(context.WithoutCancel(ctx), m.pool, c)
}

// retryHintMargin is added to a retry's time: a claim exactly at it could
// beat the store's run_after by the store clock's resolution.
const retryHintMargin = 10 * time.Millisecond

// maxRetryHints bounds the retry times a Manager remembers; a retry past
// the bound is found by the poll.
const maxRetryHints = 1024

// retryHints remembers when tasks this Manager returned with a backoff
// become claimable again: no event says so (the store's run_after passes
// silently), so a runner whose poll is long, because events wake it,
// claims at these times instead.
type retryHints struct {
	mu  sync.Mutex
	due []time.Time // unordered; small
}

// add remembers a retry due at t.
func (h *retryHints) add(t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.due) < maxRetryHints {
		h.due = append(h.due, t)
	}
}

// nextRetry reports whether a task this Manager returned with a backoff
// became claimable again since the last call (passed), and the earliest
// time after now at which another one does (next, zero when none). A
// Runner claims then: no event announces it.
func (m *Manager) nextRetry(now time.Time) (next time.Time, passed bool) { return m.retries.next(now) }

// next forgets the times not after now, reporting whether there were any,
// and returns the earliest later one.
func (h *retryHints) next(now time.Time) (first time.Time, passed bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	kept := h.due[:0]
	for _, t := range h.due {
		if !t.After(now) {
			passed = true
			continue
		}
		kept = append(kept, t)
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	h.due = kept
	return first, passed
}

// kindsHintScan is how many of its tasks a write that does not name them
// (a bulk retry or reset, a resume) counts by kind, so that its wake-ups
// go to workers that run them. The count reads at most this many tasks
// through the index the write's own search would use (Store.CountKinds).
const kindsHintScan = 1024

// kindsHint is what such a count found.
type kindsHint struct {
	kinds map[string]int
	n     int  // tasks counted
	all   bool // every matching task was counted
}

// kindsIn counts by kind the tasks matching each of qs, up to
// kindsHintScan of each, when the Notifier takes kinds. A hint: the tasks
// past the count wake workers of any kind, and so do all of them when a
// count fails.
func (m *Manager) kindsIn(ctx context.Context, qs ...Query) kindsHint {
	if _, ok := m.cfg.Notifier.(ChangeNotifier); !ok {
		return kindsHint{}
	}
	h := kindsHint{kinds: map[string]int{}, all: true}
	for _, q := range qs {
		kinds, all, err := m.store.CountKinds(ctx, CountKindsParams{Pool: m.pool, Query: q, Limit: kindsHintScan})
		if err != nil {
			return kindsHint{}
		}
		h.all = h.all && all
		for k, c := range kinds {
			h.kinds[k] += c
			h.n += c
		}
	}
	return h
}

// notifyAvailable notifies that n tasks became claimable: by kind as far
// as h counted them, the rest to workers of any kind (Change.Kinds "").
func (m *Manager) notifyAvailable(ctx context.Context, n int, h kindsHint) {
	cn, ok := m.cfg.Notifier.(ChangeNotifier)
	if !ok || len(h.kinds) == 0 || n <= 0 {
		m.notify(ctx, EventAvailable, n)
		return
	}
	kinds := h.kinds
	if rest := n - h.n; !h.all && rest > 0 {
		kinds[""] += rest
	}
	cn.NotifyChange(context.WithoutCancel(ctx), m.pool, Change{Event: EventAvailable, N: n, Kinds: kinds})
}

// notifyResumed wakes idle workers for the claimable tasks of a resumed
// pool: as many as there are tasks (up to the publisher's fan-out), of
// the kinds of the first kindsHintScan of each status, the rest of any
// kind. Not one, which would leave the rest to the others' next poll.
func (m *Manager) notifyResumed(ctx context.Context) {
	h := m.kindsIn(ctx, ByStatus(StatusWaiting), ByStatus(StatusPartDone))
	n := h.n
	if !h.all {
		n = 1
		if c, err := m.store.Stat(ctx, StatParams{Pool: m.pool}); err == nil {
			n = c[StatusWaiting] + c[StatusPartDone]
		}
	}
	m.notifyAvailable(ctx, n, h)
}
