package taskstate

import (
	"context"
	"slices"
)

// Bounds of the incremental count of a Wait.
const (
	// waitTrackMax is the most undone tasks a Wait follows by id; with
	// more, each wake-up counts the query in full.
	waitTrackMax = 20_000
	// waitChunk is the number of ids one recount reads at a time.
	waitChunk = 1000
)

// waitCounter counts the tasks of a Wait. A full count (Stat) is the
// truth; it also lists the tasks still undone then. A wake-up recounts
// only those, by id (the id index on both backends), and stops following
// each one that reaches a terminal status: a finished task stays finished
// unless an admin change moves it, and the fallback timer's full count
// catches that, as it catches tasks created since. So a wait on its own
// few ids in a large pool reads those few rows, however large the pool,
// and a recount costs what is left to do.
type waitCounter struct {
	m        *Manager
	q        Query
	terminal []Status
	undone   []any  // ids undone at the last count; nil: not followed
	base     Counts // the counts of the tasks not in undone
	wasFull  bool   // the last count was a full one
}

// isUndone reports whether s is not terminal.
func (w *waitCounter) isUndone(s Status) bool { return !slices.Contains(w.terminal, s) }

// left is the number of undone tasks in c.
func (w *waitCounter) left(c Counts) int {
	n := 0
	for s, v := range c {
		if w.isUndone(s) {
			n += v
		}
	}
	return n
}

// full counts the query's tasks and lists the undone ones to follow.
func (w *waitCounter) full(ctx context.Context) (Counts, error) {
	w.undone, w.wasFull = nil, true
	c, err := w.m.Stat(ctx, w.q)
	if err != nil || w.q.IsEmpty() || w.left(c) == 0 || w.left(c) > waitTrackMax {
		return c, err // an empty query reads counters: nothing to save
	}
	var statuses []any
	for _, s := range Statuses {
		if w.isUndone(s) {
			statuses = append(statuses, string(s))
		}
	}
	base := NewCounts()
	for s, v := range c {
		if !w.isUndone(s) {
			base[s] = v
		}
	}
	var ids []any
	for t, err := range w.m.Query(ctx, w.q.Where(FieldStatus, OpIn, statuses), QueryOptions{Limit: waitTrackMax + 1}) {
		if err != nil {
			return c, err
		}
		ids = append(ids, t.ID)
	}
	if len(ids) > waitTrackMax {
		return c, nil
	}
	// A task that finished between the two reads is in neither base nor
	// ids: recounts leave it out of the totals until the next full count,
	// and the answer is always a full count.
	w.base, w.undone = base, ids
	if len(ids) == 0 {
		w.undone = []any{} // followed, none left
	}
	return c, nil
}

// recount counts by the followed ids, or in full when none are followed.
func (w *waitCounter) recount(ctx context.Context) (Counts, error) {
	if w.undone == nil {
		return w.full(ctx)
	}
	w.wasFull = false
	c := withAll(w.base)
	var still []any
	for off := 0; off < len(w.undone); off += waitChunk {
		chunk := w.undone[off:min(off+waitChunk, len(w.undone))]
		for t, err := range w.m.Query(ctx, w.q.Where(FieldID, OpIn, chunk), QueryOptions{}) {
			if err != nil {
				return nil, err
			}
			c[t.Status]++
			if w.isUndone(t.Status) {
				still = append(still, t.ID)
				continue
			}
			w.base[t.Status]++
		}
	}
	w.undone = still
	if len(still) == 0 {
		w.undone = []any{} // followed, none left
	}
	return c, nil
}

// withAll copies c with every status present.
func withAll(c Counts) Counts {
	out := NewCounts()
	for s, v := range c {
		out[s] += v
	}
	return out
}
